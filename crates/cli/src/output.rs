//! How listings reach the operator: aligned human tables (coloured only on a
//! terminal), CSV, or the API's own JSON, chosen with `--format` / `--json`.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Result;
use clap::{Args, ValueEnum};
use comfy_table::{CellAlignment, Color, ContentArrangement, presets};
use jiff::{Timestamp, Unit};
use serde::Serialize;

/// `println!` that never panics: see [`write_stdout`].
macro_rules! outln {
    () => {
        $crate::output::write_stdout(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::output::write_stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` that never panics: see [`write_stdout`].
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::write_stdout(format_args!($($arg)*))
    };
}

static STDOUT_CLOSED_ENDS_PROCESS: AtomicBool = AtomicBool::new(true);

/// For `server` and `up`: a closed stdout must not stop a running server,
/// so write errors are ignored from now on.
pub fn keep_running_when_stdout_closes() {
    STDOUT_CLOSED_ENDS_PROCESS.store(false, Ordering::Relaxed);
}

/// Writes to stdout. When stdout is gone (`patchline nodes list | head`),
/// the reader has what it wanted: end quietly with success instead of
/// panicking as `println!` does. (SIGPIPE stays ignored, as Rust sets it:
/// restoring its default would also kill the process on a socket write to
/// a closed connection.)
pub fn write_stdout(args: std::fmt::Arguments<'_>) {
    let result = std::io::stdout().lock().write_fmt(args);
    if let Err(error) = result
        && STDOUT_CLOSED_ENDS_PROCESS.load(Ordering::Relaxed)
    {
        if error.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write to standard output: {error}");
        std::process::exit(2);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum Format {
    #[default]
    Table,
    Json,
    Csv,
}

/// `--format table|json|csv` and the `--json` shorthand.
#[derive(Debug, Clone, Args)]
pub struct OutputArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Shorthand for `--format json`.
    #[arg(long)]
    json: bool,
}

impl OutputArgs {
    pub fn format(&self) -> Format {
        if self.json { Format::Json } else { self.format }
    }
}

/// `--json` alone, for commands whose output has no table form worth CSV.
#[derive(Debug, Clone, Args)]
pub struct JsonArg {
    /// Print the API's JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// How a cell reads at a glance; only shown as colour on a terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Plain,
    Good,
    Bad,
    Warn,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    pub text: String,
    pub tone: Tone,
}

impl Cell {
    pub fn toned(text: impl Into<String>, tone: Tone) -> Cell {
        Cell {
            text: text.into(),
            tone,
        }
    }
}

impl From<String> for Cell {
    fn from(text: String) -> Cell {
        Cell::toned(text, Tone::Plain)
    }
}

impl From<&str> for Cell {
    fn from(text: &str) -> Cell {
        Cell::toned(text, Tone::Plain)
    }
}

macro_rules! cell_from_number {
    ($($number:ty),*) => {$(
        impl From<$number> for Cell {
            fn from(number: $number) -> Cell {
                Cell::toned(number.to_string(), Tone::Plain)
            }
        }
    )*};
}
cell_from_number!(u32, u64, i64, usize);

/// Rows under headers; numeric columns are right-aligned in human output.
#[derive(Debug, Clone, Default)]
pub struct Table {
    headers: Vec<String>,
    right_aligned: Vec<usize>,
    rows: Vec<Vec<Cell>>,
}

impl Table {
    pub fn new<H: Into<String>>(headers: impl IntoIterator<Item = H>) -> Table {
        Table {
            headers: headers.into_iter().map(Into::into).collect(),
            ..Table::default()
        }
    }

    /// Right-aligns these columns (0-based) in human output.
    pub fn right_align(mut self, columns: impl IntoIterator<Item = usize>) -> Table {
        self.right_aligned.extend(columns);
        self
    }

    pub fn row(&mut self, cells: impl IntoIterator<Item = Cell>) {
        self.rows.push(cells.into_iter().collect());
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Aligned columns without borders, headers in capitals. Colour only
    /// when `styled` (stdout is a terminal).
    pub fn render_human(&self, styled: bool) -> String {
        let mut table = comfy_table::Table::new();
        table.load_style(presets::NOTHING);
        if styled {
            table
                .enforce_styling()
                .set_content_arrangement(ContentArrangement::Dynamic);
        } else {
            table
                .force_no_tty()
                .set_content_arrangement(ContentArrangement::Disabled);
        }
        table.set_header(
            self.headers
                .iter()
                .map(|header| comfy_table::Cell::new(header.to_uppercase())),
        );
        for row in &self.rows {
            table.add_row(row.iter().map(|cell| {
                let styled_cell = comfy_table::Cell::new(&cell.text);
                match cell.tone {
                    Tone::Plain => styled_cell,
                    Tone::Good => styled_cell.fg(Color::Green),
                    Tone::Bad => styled_cell.fg(Color::Red),
                    Tone::Warn => styled_cell.fg(Color::Yellow),
                }
            }));
        }
        for &index in &self.right_aligned {
            if let Some(column) = table.column_mut(index) {
                column.set_cell_alignment(CellAlignment::Right);
            }
        }
        // The NOTHING preset pads every cell with one space each side; trim
        // the outer ones so output starts at column 0 and has no tail.
        let mut text = String::new();
        for line in table.to_string().lines() {
            let line = line.strip_prefix(' ').unwrap_or(line);
            text.push_str(line.trim_end());
            text.push('\n');
        }
        text
    }

    pub fn render_csv(&self) -> Result<String> {
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.write_record(&self.headers)?;
        for row in &self.rows {
            writer.write_record(row.iter().map(|cell| cell.text.as_str()))?;
        }
        Ok(String::from_utf8(writer.into_inner()?)?)
    }
}

/// Whether stdout shows colours: a terminal, and `NO_COLOR` unset.
pub fn stdout_styled() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// Prints `value` as JSON, or `table` in the chosen form.
pub fn print<T: Serialize + ?Sized>(
    format: Format,
    value: &T,
    table: impl FnOnce() -> Table,
) -> Result<()> {
    match format {
        Format::Json => outln!("{}", serde_json::to_string_pretty(value)?),
        Format::Csv => out!("{}", table().render_csv()?),
        Format::Table => {
            let table = table();
            if table.is_empty() {
                outln!("(none)");
            } else {
                out!("{}", table.render_human(stdout_styled()));
            }
        }
    }
    Ok(())
}

/// `2026-11-25T14:10:22Z` (seconds are enough for an operator).
pub fn timestamp(at: Timestamp) -> String {
    at.round(Unit::Second).unwrap_or(at).to_string()
}

pub fn optional_timestamp(at: Option<Timestamp>) -> String {
    at.map(timestamp).unwrap_or_else(|| "-".into())
}

/// `Environment=prod, Zone=eu` in key order.
pub fn tags(tags: &BTreeMap<String, String>) -> String {
    tags.iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Table {
        let mut table = Table::new(["name", "nodes", "status"]).right_align([1]);
        table.row([
            "web-1".into(),
            12u64.into(),
            Cell::toned("compliant", Tone::Good),
        ]);
        table.row([
            "db, primary".into(),
            3u64.into(),
            Cell::toned("non-compliant", Tone::Bad),
        ]);
        table
    }

    #[test]
    fn human_tables_align_columns_without_colour_when_unstyled() {
        let text = sample().render_human(false);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("NAME"), "{text}");
        // Every row's status starts in the same column as the header's.
        let column = lines[0].find("STATUS").unwrap();
        assert_eq!(lines[1].find("compliant"), Some(column), "{text}");
        assert_eq!(lines[2].find("non-compliant"), Some(column), "{text}");
        // Right-aligned numbers end where the header ends.
        let nodes_end = lines[0].find("NODES").unwrap() + "NODES".len();
        assert_eq!(
            lines[1].find("12").map(|at| at + 2),
            Some(nodes_end),
            "{text}"
        );
        assert!(!text.contains('\u{1b}'), "no escape codes: {text:?}");
    }

    #[test]
    fn styled_tables_colour_toned_cells() {
        let text = sample().render_human(true);
        assert!(text.contains('\u{1b}'), "{text:?}");
    }

    #[test]
    fn csv_quotes_what_needs_quoting() {
        let csv = sample().render_csv().unwrap();
        assert_eq!(
            csv,
            "name,nodes,status\nweb-1,12,compliant\n\"db, primary\",3,non-compliant\n"
        );
    }

    #[test]
    fn json_flag_wins_over_the_default_format() {
        let args = OutputArgs {
            format: Format::Table,
            json: true,
        };
        assert_eq!(args.format(), Format::Json);
    }

    #[test]
    fn tags_and_timestamps_read_plainly() {
        let mut map = BTreeMap::new();
        map.insert("Zone".to_string(), "eu".to_string());
        map.insert("Environment".to_string(), "prod".to_string());
        assert_eq!(tags(&map), "Environment=prod, Zone=eu");
        let at: Timestamp = "2026-11-25T14:10:22.7Z".parse().unwrap();
        assert_eq!(timestamp(at), "2026-11-25T14:10:23Z");
        assert_eq!(optional_timestamp(None), "-");
    }
}
