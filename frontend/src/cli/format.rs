//! Docker's output conventions: tables aligned as its tabwriter aligns them, sizes and
//! ages in its words, and `--format` Go templates (gtmpl) over the same fields.

use std::collections::HashMap;

use gtmpl::{Context, Func, FuncError, Template, Value};

pub use crate::time::{now_unix, rfc3339, unix_seconds};

/// Docker's table settings: columns at least 10 wide, 3 spaces between them.
const MIN_WIDTH: usize = 10;
const PADDING: usize = 3;

/// Aligns tab-separated lines as Docker's tables are: every cell but a line's last is
/// padded to its column's width.
pub fn align(text: &str) -> String {
    let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
    let mut widths: Vec<usize> = Vec::new();
    for cells in &lines {
        for (i, cell) in cells.iter().enumerate().take(cells.len().saturating_sub(1)) {
            let width = (cell.chars().count() + PADDING).max(MIN_WIDTH);
            if widths.len() <= i {
                widths.push(width);
            } else if widths[i] < width {
                widths[i] = width;
            }
        }
    }
    let mut out = String::new();
    for cells in &lines {
        for (i, cell) in cells.iter().enumerate() {
            out.push_str(cell);
            if i + 1 < cells.len() {
                let pad = widths[i] - cell.chars().count();
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push('\n');
    }
    out
}

/// Sizes as Docker prints them: decimal units, three significant digits (`4.26MB`).
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    format!("{}{}", format_g3(value), UNITS[unit])
}

/// Go's `%.3g`: three significant digits, trailing zeros dropped.
fn format_g3(value: f64) -> String {
    if value == 0.0 {
        return "0".to_string();
    }
    let rounded: f64 = format!("{value:.2e}").parse().unwrap_or(value);
    let exponent = rounded.abs().log10().floor() as i32;
    if !(-4..3).contains(&exponent) {
        let text = format!("{rounded:.2e}");
        let (mantissa, exp) = text.split_once('e').unwrap_or((&text, "0"));
        let mantissa = trim_zeros(mantissa);
        let exp: i32 = exp.parse().unwrap_or(0);
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exp.abs());
    }
    let decimals = (2 - exponent).max(0) as usize;
    trim_zeros(&format!("{rounded:.decimals$}"))
}

fn trim_zeros(text: &str) -> String {
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text.to_string()
    }
}

pub use crate::time::human_duration;

/// Docker's `Ellipsis`: at most `max` characters, the last one `…` when cut.
pub fn ellipsis(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// A `--format` value: `table …` renders a header row from the template's field
/// names and aligns the output; anything else is a plain template per item.
pub struct Format {
    template: Template,
    table: bool,
    header: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("template parsing error: {0}")]
pub struct FormatError(String);

fn json_func(args: &[Value]) -> Result<Value, FuncError> {
    let value = args.first().cloned().unwrap_or(Value::Nil);
    Ok(Value::String(to_json(&value).to_string()))
}

fn join_func(args: &[Value]) -> Result<Value, FuncError> {
    match (args.first(), args.get(1)) {
        (Some(Value::Array(items)), Some(Value::String(sep))) => Ok(Value::String(
            items
                .iter()
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join(sep),
        )),
        _ => Err(FuncError::Generic(
            "join takes a list and a separator".to_string(),
        )),
    }
}

fn string_func(args: &[Value], f: fn(&str) -> String) -> Result<Value, FuncError> {
    match args.first() {
        Some(Value::String(s)) => Ok(Value::String(f(s))),
        Some(other) => Ok(Value::String(f(&other.to_string()))),
        None => Err(FuncError::Generic("a string is needed".to_string())),
    }
}

fn lower_func(args: &[Value]) -> Result<Value, FuncError> {
    string_func(args, str::to_lowercase)
}

fn upper_func(args: &[Value]) -> Result<Value, FuncError> {
    string_func(args, str::to_uppercase)
}

fn to_json(value: &Value) -> serde_json::Value {
    match value {
        Value::NoValue | Value::Nil | Value::Function(_) => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::String(s) => serde_json::Value::String(s.clone()),
        Value::Number(n) => n
            .as_i64()
            .map(serde_json::Value::from)
            .or_else(|| n.as_u64().map(serde_json::Value::from))
            .or_else(|| n.as_f64().map(serde_json::Value::from))
            .unwrap_or(serde_json::Value::Null),
        Value::Array(items) => serde_json::Value::Array(items.iter().map(to_json).collect()),
        Value::Object(map) | Value::Map(map) => {
            let sorted: std::collections::BTreeMap<_, _> =
                map.iter().map(|(k, v)| (k.clone(), to_json(v))).collect();
            serde_json::Value::Object(sorted.into_iter().collect())
        }
    }
}

/// A template value from JSON.
pub fn to_value(json: &serde_json::Value) -> Value {
    match json {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => n
            .as_i64()
            .map(Value::from)
            .or_else(|| n.as_u64().map(Value::from))
            .or_else(|| n.as_f64().map(Value::from))
            .unwrap_or(Value::Nil),
        serde_json::Value::String(s) => Value::String(s.clone()),
        serde_json::Value::Array(items) => Value::Array(items.iter().map(to_value).collect()),
        serde_json::Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), to_value(v)))
                .collect::<HashMap<_, _>>(),
        ),
    }
}

impl Format {
    /// Parses `--format`: `table` alone or with a template, or a template.
    /// `headers` maps a field name to its column title.
    pub fn parse(text: &str, headers: &[(&str, &str)]) -> Result<Format, FormatError> {
        let (table, body) = match text.strip_prefix("table") {
            Some(rest) if rest.is_empty() || rest.starts_with(char::is_whitespace) => {
                (true, rest.trim_start())
            }
            _ => (false, text),
        };
        // Docker's tables use `\t` in the template text for a column break.
        let body = body.replace("\\t", "\t").replace("\\n", "\n");
        let mut template = Template::default();
        let funcs: &[(&str, Func)] = &[
            ("json", json_func),
            ("join", join_func),
            ("lower", lower_func),
            ("upper", upper_func),
        ];
        template.add_funcs(funcs);
        template
            .parse(body.clone())
            .map_err(|e| FormatError(e.to_string()))?;
        let header = table.then(|| {
            let mut header = body.clone();
            for (field, title) in headers {
                header = header.replace(&format!("{{{{.{field}}}}}"), title);
            }
            header
        });
        Ok(Format {
            template,
            table,
            header,
        })
    }

    pub fn is_table(&self) -> bool {
        self.table
    }

    /// Renders one line per item (the header first for a table), aligned for a
    /// table.
    pub fn render(&self, items: &[serde_json::Value]) -> Result<String, FormatError> {
        let mut out = String::new();
        if let Some(header) = &self.header {
            out.push_str(header);
            out.push('\n');
        }
        for item in items {
            let line = self
                .template
                .render(&Context::from(to_value(item)))
                .map_err(|e| FormatError(e.to_string()))?;
            out.push_str(&line);
            out.push('\n');
        }
        Ok(if self.table { align(&out) } else { out })
    }
}

#[cfg(test)]
mod tests;
