//! `botgate send`: one message to a configured target (a custom group bot or an app chat),
//! split to the platform's size limit and within its rate limit. With `--dry-run` (or
//! `delivery.dry_run` in the configuration) it prints the signed request instead.

use anyhow::{Result, anyhow};
use botgate::message::{Mentions, Message};

use crate::Outcome;

/// Arguments of `botgate send`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The configuration (YAML) holding the `targets:`.
    #[arg(long, default_value = "examples/botgate.yaml")]
    config: String,
    /// The target's name (a key of `targets:`).
    #[arg(long)]
    target: String,
    /// The text (Markdown with --markdown).
    #[arg(long)]
    text: String,
    /// Send as Markdown with this title.
    #[arg(long)]
    markdown: Option<String>,
    /// Mention everyone.
    #[arg(long)]
    at_all: bool,
    /// Mention these users (ids) or mobiles (digits).
    #[arg(long = "at", value_delimiter = ',')]
    at: Vec<String>,
    /// Print the request instead of sending it.
    #[arg(long)]
    dry_run: bool,
}

/// Runs the command.
pub fn run(args: Args) -> Result<Outcome> {
    crate::input::block_on(go(args))
}

async fn go(args: Args) -> Result<Outcome> {
    let mut config = crate::input::load_config_resolved(&args.config).await?;
    if !config.targets.contains_key(&args.target) {
        let known: Vec<&str> = config.targets.keys().map(String::as_str).collect();
        return Err(anyhow!(
            "no target `{}` (configured: {})",
            args.target,
            known.join(", ")
        ));
    }
    config.delivery.dry_run |= args.dry_run;
    let (mobiles, user_ids) = args.at.into_iter().partition(|a| a.chars().all(|c| c.is_ascii_digit()));
    let mentions = Mentions {
        all: args.at_all,
        user_ids,
        mobiles,
    };
    let message = match args.markdown {
        Some(title) => Message::Markdown {
            title,
            text: args.text,
            mentions,
        },
        None => Message::Text {
            text: args.text,
            mentions,
        },
    };
    let d = crate::input::command_dispatcher(config).await?;
    let deadline = botgate::clock::Clock::now_ms(d.clock.as_ref()) + 60_000;
    let key = botgate::crypto::random_nonce(16);
    let parts = d
        .notifier
        .send(&args.target, &message, &key, deadline)
        .await
        .map_err(|e| anyhow!("{}: {e}", args.target))?;
    eprintln!(
        "{} {parts} part(s) to {}",
        if d.delivery.dry_run { "would send" } else { "sent" },
        args.target
    );
    Ok(Outcome::Ok)
}
