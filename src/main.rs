use clap::Parser;
fn main() {
    let _cli = mailpull::cli::Cli::parse();
}
