//! The README documents every setting the function reads.

#[test]
fn every_variable_read_by_config_is_in_the_readme() {
    let config = include_str!("../src/config.rs");
    let readme = include_str!("../README.md");
    let mut found = 0;
    for piece in config.split('"').skip(1).step_by(2) {
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
    assert!(found >= 15, "found only {found} variables in src/config.rs");
}
