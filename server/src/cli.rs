//! The `ehall-bot` command line: one `Command` variant per subcommand, each run by a module of [`crate::commands`].

use crate::commands;
use crate::settings::{Overrides, DEFAULT_DATA_DIR};
use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(name = "ehall-bot", version, about = "天津商业大学网上办事服务大厅的智能问答机器人")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once at start and matched at once: the size of the `serve` variant costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Runs the chat server (websocket `/ws`, HTTP `/api/v1/chat`, the widget).
    Serve(ServeArgs),
    /// Answers one question from the command line, without server or database.
    Ask(AskArgs),
    /// Loads and validates the knowledge base; exits 1 listing every problem.
    CheckData(DataDirArg),
    /// Imports a catalog export (services.json, apps.json, …) into data/ TOML files.
    ImportCatalog(ImportCatalogArgs),
    /// Scores a question set in-process (the definitions of shared/eval/evaluate.py); exits 1 below a threshold.
    Eval(EvalArgs),
    /// Learns the answer / clarify / refuse decision from data/ and prints its cross-validation figures.
    Train(TrainArgs),
    /// Writes the knowledge as the database holds it (admin edits included) to DIR in the format of data/.
    Export(crate::admin::export::ExportArgs),
}

/// Flags of `serve`. Each also reads an environment variable; the command line wins over the environment,
/// which wins over the config file, which wins over the defaults.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "EHALL_ADDR")]
    pub addr: Option<SocketAddr>,
    /// Database URL: sqlite://PATH (created when missing) or postgres://… [default: sqlite://var/ehall.sqlite].
    #[arg(long, env = "EHALL_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Knowledge base directory [default: data].
    #[arg(long, env = "EHALL_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Optional TOML config file (keys: addr, database_url, data_dir, model_dir, vector_cache_dir, semantic, [limits], [auth], [campus], [retention], [handoff]).
    #[arg(long, env = "EHALL_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub channels: crate::channels::dispatch::ChannelArgs,
    #[command(flatten)]
    pub retrieval: RetrievalArgs,
    #[command(flatten)]
    pub auth: AuthArgs,
}

/// 统一身份认证 login: the CAS server, our public address, the token secret, the demo CAS server.
#[derive(Debug, Clone, Args)]
pub struct AuthArgs {
    /// Serve the built-in demo CAS server under /cas: true (demo default) or false (production).
    #[arg(long, env = "EHALL_DEMO_CAS")]
    pub demo_cas: Option<bool>,
    /// The school's CAS server base, e.g. https://authserver.tjcu.edu.cn/authserver [default: our own /cas].
    #[arg(long, env = "EHALL_CAS_URL")]
    pub cas_url: Option<String>,
    /// Our address as browsers and CAS see it, e.g. https://chat.tjcu.edu.cn [default: http://<addr>].
    #[arg(long, env = "EHALL_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// The login token signing secret (16+ bytes) [default: generated into var/token-secret with the demo CAS].
    #[arg(long, env = "EHALL_TOKEN_SECRET", hide_env_values = true)]
    pub token_secret: Option<String>,
}

/// Where the embedding model and the passage-vector cache live, and whether to use them.
#[derive(Debug, Clone, Args)]
pub struct RetrievalArgs {
    /// Folder holding vendor/pypi with the embedding model (installed by scripts/fetch-models) [default: .].
    #[arg(long, env = "EHALL_MODEL_DIR")]
    pub model_dir: Option<PathBuf>,
    /// Passage-vector cache folder [default: var/vectors].
    #[arg(long, env = "EHALL_VECTOR_CACHE_DIR")]
    pub vector_cache_dir: Option<PathBuf>,
    /// Semantic retrieval: true (when the model is installed) or false for lexical only [default: true].
    #[arg(long, env = "EHALL_SEMANTIC")]
    pub semantic: Option<bool>,
}

impl ServeArgs {
    pub fn overrides(&self) -> Overrides {
        Overrides {
            addr: self.addr,
            database_url: self.database_url.clone(),
            data_dir: self.data_dir.clone(),
            model_dir: self.retrieval.model_dir.clone(),
            vector_cache_dir: self.retrieval.vector_cache_dir.clone(),
            semantic: self.retrieval.semantic,
            channels: self.channels.clone(),
            auth: crate::auth::AuthOverrides {
                demo_cas: self.auth.demo_cas,
                cas_url: self.auth.cas_url.clone(),
                public_url: self.auth.public_url.clone(),
                token_secret: self.auth.token_secret.clone(),
            },
        }
    }
}

#[derive(Debug, Args)]
pub struct DataDirArg {
    /// Knowledge base directory.
    #[arg(long, env = "EHALL_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct AskArgs {
    /// The question, e.g. "校园卡丢了怎么补办".
    pub question: String,
    /// Print the protocol's `reply` frame as JSON instead of readable text.
    #[arg(long)]
    pub json: bool,
    /// Also print why: the intent, the lexical terms and scores, the dense ranks and cosines, the fused scores
    /// and the decision.
    #[arg(long)]
    pub explain: bool,
    #[command(flatten)]
    pub data: DataDirArg,
    #[command(flatten)]
    pub retrieval: RetrievalArgs,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// A JSON-lines question set: {"q": "...", "expect": {"kind": "service|faq|app|none", "name": "...", "also": [...]}}.
    pub file: PathBuf,
    /// Fail when top-1 accuracy is below this.
    #[arg(long)]
    pub min_top1: Option<f64>,
    /// Fail when top-3 accuracy is below this.
    #[arg(long)]
    pub min_top3: Option<f64>,
    /// Fail when the share of "none" questions answered with fallback is below this.
    #[arg(long)]
    pub min_none: Option<f64>,
    /// Fail when the share of confident wrong answers is above this.
    #[arg(long)]
    pub max_wrong: Option<f64>,
    /// List every question not answered as expected, with what was answered.
    #[arg(long)]
    pub show_misses: bool,
    /// How many of the worst misses (wrong answers first, then wrong refusals, then clarifies without the item)
    /// to list.
    #[arg(long, default_value_t = 10)]
    pub worst: usize,
    /// Print only the summary as one JSON line.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub data: DataDirArg,
    #[command(flatten)]
    pub retrieval: RetrievalArgs,
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Where to write the model [default: DATA_DIR/model/decision.toml].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print the figures only; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Also write every training question's features as JSON lines to this file (for analysis).
    #[arg(long)]
    pub dump: Option<PathBuf>,
    /// What a wrong answer costs against 1 for a right one when the thresholds are chosen.
    #[arg(long, default_value_t = knowledge::train::WRONG_COST)]
    pub wrong_cost: f64,
    /// Re-fit from a file written by --dump instead of searching (prints figures, writes nothing).
    #[arg(long)]
    pub from_dump: Option<PathBuf>,
    /// List this many of the worst cross-validated misses.
    #[arg(long, default_value_t = 0)]
    pub show_misses: usize,
    #[command(flatten)]
    pub data: DataDirArg,
    #[command(flatten)]
    pub retrieval: RetrievalArgs,
}

#[derive(Debug, Args)]
pub struct ImportCatalogArgs {
    /// Folder with services.json, apps.json, faqs.json, departments.json and news.json.
    pub catalog: PathBuf,
    /// Where to write the TOML files.
    #[arg(long, default_value = DEFAULT_DATA_DIR)]
    pub out: PathBuf,
}

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Success,
    Failure,
}

impl From<Status> for ExitCode {
    fn from(status: Status) -> ExitCode {
        match status {
            Status::Success => ExitCode::SUCCESS,
            Status::Failure => ExitCode::FAILURE,
        }
    }
}

impl Cli {
    /// Runs the chosen subcommand.
    pub fn run(self) -> ExitCode {
        // Unlocked handles: a held stderr lock would block every log line written by other threads.
        let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
        let status = match self.command {
            Command::Serve(args) => commands::serve::run(args),
            Command::Ask(args) => {
                crate::telemetry::init("warn");
                commands::ask::run(&args, &mut out, &mut err)
            }
            Command::CheckData(args) => commands::check_data::run(&args.data_dir, &mut out, &mut err),
            Command::ImportCatalog(args) => commands::import_catalog::run(&args, &mut out, &mut err),
            Command::Export(args) => crate::admin::export::run(&args, &mut out, &mut err),
            Command::Train(args) => {
                crate::telemetry::init("warn");
                commands::train::run(&args, &mut out, &mut err)
            }
            Command::Eval(args) => {
                crate::telemetry::init("warn");
                commands::eval::run(&args, &mut out, &mut err)
            }
        };
        status.into()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn ask_takes_the_question_and_json_flag() {
        let cli = Cli::try_parse_from(["ehall-bot", "ask", "校园卡丢了", "--json", "--data-dir", "kb"]).unwrap();
        let Command::Ask(args) = cli.command else { panic!("not ask") };
        assert_eq!((args.question.as_str(), args.json, args.data.data_dir), ("校园卡丢了", true, PathBuf::from("kb")));
    }
}
