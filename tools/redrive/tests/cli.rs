//! `genesys-redrive` answers as a well-kept CLI does.

use genesys_sign::cli::assert_standard_flags;

#[test]
fn help_version_and_a_usage_error() {
    let redrive = env!("CARGO_BIN_EXE_genesys-redrive");
    assert_standard_flags(redrive, env!("CARGO_PKG_VERSION"), &["--bus", "b"]);
    assert_standard_flags(
        redrive,
        env!("CARGO_PKG_VERSION"),
        &["--stack", "s", "--verbose"],
    );
}
