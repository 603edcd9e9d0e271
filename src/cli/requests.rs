//! Parsed flags → the plain-value overrides and requests that `config`, `import` and the
//! commands take: nothing below the command layer sees a parser type.

use super::{AuthArg, Cli, DeliverArgs, FetchOptions, ImportArgs, ImportTool, ServerArgs};

impl From<AuthArg> for crate::config::Auth {
    fn from(a: AuthArg) -> Self {
        use crate::config::Auth;
        match a {
            AuthArg::Auto => Auth::Auto,
            AuthArg::User | AuthArg::Login => Auth::User,
            AuthArg::Plain => Auth::Plain,
            AuthArg::Apop => Auth::Apop,
            AuthArg::Xoauth2 => Auth::XOAuth2,
            AuthArg::Oauthbearer => Auth::OAuthBearer,
        }
    }
}

impl ServerArgs {
    /// The server flags as configuration overrides.
    pub fn overrides(&self) -> crate::config::ServerOverrides {
        crate::config::ServerOverrides {
            password_command: self.password_command.clone(),
            folders: self.folders.clone(),
            auth: self.auth.map(Into::into),
            tls_ca_file: self.tls_ca_file.clone(),
            tls_fingerprint: self.tls_fingerprint.clone(),
            insecure_no_tls: self.insecure_no_tls,
            timeout: self.timeout,
        }
    }

    /// Only the server flags overridden (`check`, `list`).
    pub fn only(&self) -> crate::config::Overrides {
        crate::config::Overrides {
            server: self.overrides(),
            ..Default::default()
        }
    }
}

impl DeliverArgs {
    /// The delivery flag given, if any.
    pub fn target(&self) -> Option<crate::config::TargetOverride> {
        use crate::config::TargetOverride;
        match self {
            DeliverArgs {
                maildir: Some(p), ..
            } => Some(TargetOverride::Maildir(p.clone())),
            DeliverArgs { mbox: Some(p), .. } => Some(TargetOverride::Mbox(p.clone())),
            DeliverArgs { mda: Some(c), .. } => Some(TargetOverride::Mda(c.clone())),
            DeliverArgs { stdout: true, .. } => Some(TargetOverride::Stdout),
            _ => None,
        }
    }
}

impl From<super::ReceiptsArg> for crate::receipts::ReceiptPolicy {
    fn from(a: super::ReceiptsArg) -> Self {
        use crate::receipts::ReceiptPolicy;
        match a {
            super::ReceiptsArg::Ask => ReceiptPolicy::Ask,
            super::ReceiptsArg::Queue => ReceiptPolicy::Queue,
            super::ReceiptsArg::Never => ReceiptPolicy::Never,
        }
    }
}

impl FetchOptions {
    /// Applies `--receipts` (this run's read-receipt policy) to the accounts.
    pub fn apply_receipts(&self, accounts: &mut [crate::config::Account]) {
        if let Some(r) = self.receipts {
            for a in accounts {
                a.receipts.policy = r.into();
            }
        }
    }

    /// The configuration overrides of the flags `fetch` and `watch` share.
    pub fn overrides(
        &self,
        server: &ServerArgs,
        deliver: &DeliverArgs,
    ) -> crate::config::Overrides {
        crate::config::Overrides {
            server: server.overrides(),
            target: deliver.target(),
            keep: match (self.keep, self.no_keep) {
                (true, _) => Some(true),
                (_, true) => Some(false),
                _ => None,
            },
            skip_larger_than: self.skip_larger_than.clone(),
            delete_larger_than: self.delete_larger_than.clone(),
            max_messages: self.max_messages,
            mda_timeout: self.mda_timeout,
            mark_seen: self.mark_seen,
            filter: self.filter.clone(),
        }
    }
}

impl ImportArgs {
    /// The import as the `import` module takes it.
    pub fn request(&self, cli: &Cli) -> crate::import::ImportRequest {
        use crate::import::Tool;
        let (tool, paths, opts) = match &self.tool {
            ImportTool::Fetchmail { file, opts } => {
                (Tool::Fetchmail, file.iter().cloned().collect(), opts)
            }
            ImportTool::Mpop { path, opts } => (Tool::Mpop, path.iter().cloned().collect(), opts),
            ImportTool::Getmail { files, opts } => (Tool::Getmail, files.clone(), opts),
        };
        crate::import::ImportRequest {
            tool,
            paths,
            accounts: opts.accounts.clone(),
            aliases: opts.aliases.clone(),
            dry_run: opts.dry_run,
            json: opts.json,
            config: cli.config.clone(),
            ledger: cli.ledger.clone(),
            quiet: cli.quiet,
        }
    }
}
