//! The `keycard` binary: parse the command line and run it.

fn main() -> std::process::ExitCode {
    keycard::cli::main()
}
