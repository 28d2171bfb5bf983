//! The README documents every setting the function reads.

use genesys_webhook::config::VARIABLES;

#[test]
fn every_variable_the_function_reads_is_in_the_readme() {
    let readme = include_str!("../README.md");
    for var in VARIABLES {
        assert!(
            readme.contains(&format!("`{var}`")),
            "README does not document {var}"
        );
    }
}
