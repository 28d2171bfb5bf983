//! The README documents every setting the function and the relay read.

#[test]
fn every_variable_the_function_and_the_relay_read_is_in_the_readme() {
    let readme = include_str!("../README.md");
    let function = genesys_webhook::config::VARIABLES;
    let relay = genesys_webhook::relay::VARIABLES;
    for var in function.iter().chain(relay) {
        assert!(
            readme.contains(&format!("`{var}`")),
            "README does not document {var}"
        );
    }
}
