//! `genesys-replay` answers as a well-kept CLI does.

use genesys_sign::cli::assert_standard_flags;

#[test]
fn help_version_and_a_usage_error() {
    let replay = env!("CARGO_BIN_EXE_genesys-replay");
    assert_standard_flags(replay, env!("CARGO_PKG_VERSION"), &["--table"]);
    assert_standard_flags(
        replay,
        env!("CARGO_PKG_VERSION"),
        &[
            "--table",
            "t",
            "--bus",
            "b",
            "--from",
            "yesterday",
            "--to",
            "1",
        ],
    );
    // A relation the parser cannot see is reported the same way.
    assert_standard_flags(
        replay,
        env!("CARGO_PKG_VERSION"),
        &[
            "--table",
            "t",
            "--bus",
            "b",
            "--from",
            "1763985601",
            "--to",
            "2025-11-24T12:00:00Z",
        ],
    );
}
