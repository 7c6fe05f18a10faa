//! `botgate`: debug platform callbacks from the command line, and (with the gateway) run
//! botgate locally.

#[cfg(feature = "aws")]
use botgate_cli::dlq;
use botgate_cli::{Outcome, cipher, config, connect, doctor, event, render, schedules, send, serve, sign, verify};

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc: fewer and cheaper allocations per request than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const EXAMPLES: &str = "\
Examples:
  # Run the gateway locally on the example configuration
  botgate serve --config examples/botgate.yaml

  # Check a configuration: every problem with its path and line (exit 1 if any)
  botgate config check --config botgate.yaml

  # A bot without a public URL: Feishu/Lark or DingTalk over a long connection (mode: long_connection)
  botgate connect --config botgate.yaml

  # Send it a signed sample event
  botgate event --config examples/botgate.yaml --bot feishu-demo --format curl | sh

  # Why was this callback refused? (REQ.json: {\"method\",\"query\",\"headers\",\"body\"})
  botgate verify --platform feishu --credentials creds.json --request req.json

  # Check a request captured earlier, with the clock set to when it was sent
  botgate verify --platform wecom --credentials creds.json --request req.json --now 1795440463 --json

  # The signature for a custom group bot webhook
  botgate sign --platform dingtalk --secret SEC... --json

  # Decrypt an `encrypt` / `Encrypt` value
  botgate decrypt --platform wechat --credentials creds.json 'G19SxUo0leW2...'

  # A signed, encrypted sample callback, as a curl command for a running gateway
  botgate event --platform feishu --credentials creds.json --type message --text hello --format curl

  # A message to a custom group bot (signed; --dry-run prints the request)
  botgate send --config examples/botgate.yaml --target ops-dingtalk --text 'deploy done' --dry-run

  # What an Alertmanager payload becomes on a target (the signed requests, not sent)
  botgate render --alertmanager tests/fixtures/alertmanager/firing.json --target ops-dingtalk

  # When the configured schedules run next (in their time zone and UTC); run one now
  botgate schedules --config examples/botgate.yaml
  botgate schedules --config examples/botgate.yaml --run daily-report --dry-run

  # Upload a checked configuration where the functions read it; see what is live; check it end to end
  botgate config push --config botgate.yaml --uri s3://my-stack-configbucket/botgate.yaml
  botgate config show --uri s3://my-stack-configbucket/botgate.yaml
  botgate doctor --config s3://my-stack-configbucket/botgate.yaml --base-url https://abc123.execute-api.us-east-1.amazonaws.com

  # What is in the dead-letter queue and why; then put it back once fixed
  botgate dlq --dlq-url $DLQ_URL --table $TABLE
  botgate dlq --dlq-url $DLQ_URL --redrive --queue-url $QUEUE_URL

Credentials files hold the bot's keys under the platform's names, for example
  feishu:   {\"app_id\", \"encrypt_key\", \"verification_token\"}
  wechat:   {\"token\", \"encoding_aes_key\", \"app_id\"}
  wecom:    {\"token\", \"encoding_aes_key\", \"corp_id\"}
  dingtalk: {\"token\", \"aes_key\", \"app_key\", \"app_secret\"}
The test vectors file (with a \"platforms\" list) is accepted too.

Exit status: 0 accepted / done, 1 rejected, 2 usage or input error.";

/// botgate: chat bots and ops notifications for Feishu/Lark, DingTalk, WeChat and WeCom.
#[derive(Parser, Debug)]
#[command(name = "botgate", version, about, after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Verify a callback request exactly as the gateway would, and say which check failed.
    Verify(verify::Args),
    /// Compute a custom group bot signature (Feishu: body `sign`; DingTalk: query `sign`).
    Sign(sign::Args),
    /// Encrypt a payload with the platform's cipher.
    Encrypt(cipher::EncryptArgs),
    /// Decrypt a payload with the platform's cipher.
    Decrypt(cipher::DecryptArgs),
    /// Generate a signed (and, where configured, encrypted) sample callback.
    Event(event::Args),
    /// Run the gateway, the dispatcher and the configured schedules locally (in-memory store and queue by default).
    Serve(serve::Args),
    /// Take events off long connections (Feishu/Lark, DingTalk Stream) for bots with `mode: long_connection`, into the queue.
    Connect(connect::Args),
    /// Send one message to a configured target (custom group bot or app chat).
    Send(send::Args),
    /// What an Alertmanager or Grafana webhook becomes on each platform, or on one target (not sent).
    Render(render::Args),
    /// The configured notifications' schedules and their next runs; or run one now.
    Schedules(schedules::Args),
    /// Check a configuration file (every problem, with its path and line), push it to S3, show what is live, or print its JSON Schema.
    Config(config::Args),
    /// Is a configuration ready to run? References resolved, each bot's token fetched, callback URLs to paste.
    Doctor(doctor::Args),
    /// List the dead-letter queue with each event's failure reason, or re-drive it.
    #[cfg(feature = "aws")]
    Dlq(dlq::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Verify(a) => verify::run(a),
        Command::Sign(a) => sign::run(a),
        Command::Encrypt(a) => cipher::encrypt(a),
        Command::Decrypt(a) => cipher::decrypt(a),
        Command::Event(a) => event::run(a),
        Command::Serve(a) => serve::run(a),
        Command::Connect(a) => connect::run(a),
        Command::Send(a) => send::run(a),
        Command::Render(a) => render::run(a),
        Command::Schedules(a) => schedules::run(a),
        Command::Config(a) => config::run(a),
        Command::Doctor(a) => doctor::run(a),
        #[cfg(feature = "aws")]
        Command::Dlq(a) => dlq::run(a),
    };
    match result {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::Rejected) => ExitCode::from(1),
        Err(e) => {
            eprintln!("botgate: {e:#}");
            ExitCode::from(2)
        }
    }
}
