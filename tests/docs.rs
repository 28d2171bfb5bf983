//! The README documents every setting the function and the relay read.

#[test]
fn every_variable_read_by_config_is_in_the_readme() {
    every_variable_is_in_the_readme(include_str!("../src/config.rs"), "src/config.rs", 15);
}

#[test]
fn every_variable_read_by_the_relay_is_in_the_readme() {
    every_variable_is_in_the_readme(include_str!("../src/relay/mod.rs"), "src/relay/mod.rs", 9);
}

fn every_variable_is_in_the_readme(source: &str, name: &str, at_least: usize) {
    let readme = include_str!("../README.md");
    let mut found = 0;
    for piece in source.split('"').skip(1).step_by(2) {
        let is_variable = piece.len() > 3
            && piece.chars().all(|c| c.is_ascii_uppercase() || c == '_')
            && piece.contains('_');
        if is_variable {
            found += 1;
            assert!(
                readme.contains(&format!("`{piece}`")),
                "README does not document {piece}"
            );
        }
    }
    assert!(found >= at_least, "found only {found} variables in {name}");
}
