//! `botgate config`: the configuration file's JSON Schema (`schema`); checking a file
//! (`check`) the way every command loads it, with every problem listed by path and line;
//! uploading a checked file to where the functions read it (`push`); and printing what is
//! there with its secrets masked (`show`).

use anyhow::Result;
use botgate::config::{Mode, Problem};

use crate::Outcome;

/// Arguments of `botgate config`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Print the JSON Schema of the configuration file (committed as botgate.schema.json).
    Schema,
    /// Check a configuration: every problem with its path and line; exit 0 valid, 1 invalid.
    Check(CheckArgs),
    /// Check a configuration, then upload it where the functions read it (BOTGATE_CONFIG_URI);
    /// an invalid one is not uploaded (exit 1). Prints the new object version.
    Push(PushArgs),
    /// Print the configuration at a URI (what is live), its secrets masked.
    Show(ShowArgs),
}

/// Arguments of `botgate config push`.
#[derive(clap::Args, Debug)]
pub struct PushArgs {
    /// The configuration to upload (a path).
    #[arg(long)]
    config: String,
    /// Where the functions read it: s3://bucket/key (the stack output ConfigUri).
    #[arg(long)]
    uri: String,
    /// Also resolve every reference before uploading (needs the functions' AWS access).
    #[arg(long)]
    resolve: bool,
}

/// Arguments of `botgate config show`.
#[derive(clap::Args, Debug)]
pub struct ShowArgs {
    /// The configuration: s3://bucket/key (the stack output ConfigUri) or a path.
    #[arg(long)]
    uri: String,
}

/// Arguments of `botgate config check`.
#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// The configuration (YAML): a path or s3://bucket/key.
    #[arg(long, default_value = "examples/botgate.yaml")]
    config: String,
    /// Also resolve every ${env:..}, ${ssm:..} and ${secretsmanager:..} reference (needs the
    /// environment and AWS credentials the functions have); without it their syntax is
    /// checked and the fields holding them are not checked further.
    #[arg(long)]
    resolve: bool,
    /// Print the problems as JSON lines ({"path","line","message"}).
    #[arg(long)]
    json: bool,
}

/// Runs the command.
pub fn run(args: Args) -> Result<Outcome> {
    match args.command {
        Command::Schema => {
            crate::input::print_stdout(&serde_json::to_string_pretty(&botgate::config::schema())?)?;
            Ok(Outcome::Ok)
        }
        Command::Check(a) => crate::input::block_on(check(a)),
        Command::Push(a) => crate::input::block_on(push(a)),
        Command::Show(a) => crate::input::block_on(show(a)),
    }
}

/// The problems of `text` (references resolved, or their syntax only).
async fn problems(text: &str, resolve: bool) -> Vec<Problem> {
    let resolver = crate::input::resolver();
    let mode = if resolve {
        Mode::Resolve(resolver.as_ref())
    } else {
        Mode::SyntaxOnly
    };
    botgate::deps::check(text, mode).await
}

async fn push(a: PushArgs) -> Result<Outcome> {
    let target = botgate::reload::source::ConfigUri::parse(&a.uri)?;
    let text = crate::input::read_config(&a.config).await?.text;
    let found = problems(&text, a.resolve).await;
    if !found.is_empty() {
        for p in &found {
            eprintln!("{p}");
        }
        eprintln!("{}: {} problem(s); not uploaded", a.config, found.len());
        return Ok(Outcome::Rejected);
    }
    let version = botgate::reload::source::Source::new(target).put(&text).await?;
    println!("{version}");
    eprintln!(
        "{} ({} bytes) uploaded to {}, version {version}; running functions pick it up within gateway.config_refresh_secs (default 60 s)",
        a.config,
        text.len(),
        a.uri
    );
    Ok(Outcome::Ok)
}

async fn show(a: ShowArgs) -> Result<Outcome> {
    let f = crate::input::read_config(&a.uri).await?;
    eprintln!(
        "# {} ({} bytes, ETag {}{})",
        a.uri,
        f.text.len(),
        f.etag,
        f.version
            .as_deref()
            .map(|v| format!(", version {v}"))
            .unwrap_or_default()
    );
    crate::input::print_stdout(&mask(&f.text))?;
    Ok(Outcome::Ok)
}

/// Fields whose values are secrets (a `${...}` reference is not a secret and is shown).
const SECRET_FIELDS: &[&str] = &[
    "app_secret",
    "corp_secret",
    "encrypt_key",
    "verification_token",
    "token",
    "encoding_aes_key",
    "aes_key",
    "secret",
    "hmac_secret",
    "bearer_token",
];

/// `text` with the values of secret fields, and the `key` / `access_token` query values of
/// URLs (group-bot webhooks), replaced by `****`. Comments and layout are kept.
pub fn mask(text: &str) -> String {
    let field = regex::Regex::new(r#"^(\s*(?:-\s+)?([A-Za-z_]+)\s*:\s*)(.+?)\s*$"#).ok();
    let query = regex::Regex::new(r#"((?:access_token|key|sign)=)[^&\s"'#]+"#).ok();
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let mut line = line.to_owned();
        if let Some(c) = field.as_ref().and_then(|re| re.captures(&line)) {
            let value = c.get(3).map_or("", |m| m.as_str());
            let plain = !value.starts_with("${") && !value.starts_with("\"${") && !value.starts_with('#');
            if c.get(2).is_some_and(|k| SECRET_FIELDS.contains(&k.as_str())) && plain {
                line = format!("{}\"****\"", c.get(1).map_or("", |m| m.as_str()));
            }
        }
        if let Some(re) = &query {
            line = re.replace_all(&line, "${1}****").into_owned();
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

fn print(p: &Problem, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::json!({"path": p.path, "line": p.line, "message": p.to_string()})
        );
    } else {
        println!("{p}");
    }
}

async fn check(a: CheckArgs) -> Result<Outcome> {
    let text = crate::input::read_config(&a.config).await?.text;
    let problems = problems(&text, a.resolve).await;
    for p in &problems {
        print(p, a.json);
    }
    if problems.is_empty() {
        if !a.json {
            eprintln!(
                "{}: valid{}",
                a.config,
                if a.resolve {
                    ""
                } else {
                    " (references not resolved: --resolve checks them too)"
                }
            );
        }
        Ok(Outcome::Ok)
    } else {
        eprintln!("{}: {} problem(s)", a.config, problems.len());
        Ok(Outcome::Rejected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_and_references_kept() {
        let text = "bots:\n  ops:\n    app_secret: s3cr3t   \n    encrypt_key: ${ssm:/botgate/ops/key}\n    app_id: cli_1\n\
                    targets:\n  t:\n    url: https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc-123\n    secret: SECabc\n\
                    notify_api:\n  bearer_token: \"tok\"\n";
        let m = mask(text);
        assert!(
            !m.contains("s3cr3t") && !m.contains("abc-123") && !m.contains("SECabc") && !m.contains("tok\""),
            "{m}"
        );
        assert!(
            m.contains("${ssm:/botgate/ops/key}") && m.contains("app_id: cli_1"),
            "{m}"
        );
        assert!(m.contains("send?key=****"), "{m}");
        assert_eq!(m.lines().count(), text.lines().count());
    }
}
