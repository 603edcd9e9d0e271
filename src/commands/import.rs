//! `mailpull import TOOL`'s entry: the flags become an [`crate::import::ImportRequest`].

use crate::cli::{Cli, ImportArgs};
use crate::exit::Exit;

pub(super) fn run(cli: &Cli, args: &ImportArgs) -> anyhow::Result<Exit> {
    crate::import::run(&args.request(cli))
}
