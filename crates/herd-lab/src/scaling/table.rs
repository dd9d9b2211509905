//! A small CSV reader for the tables of `herd scaling`: columns found by header name, rows
//! kept with their line numbers so every error can point at the line to fix.
//!
//! Hand-written rather than the `csv` crate: the inputs are a handful of numeric columns,
//! and what matters here is the wording of the errors, not throughput.

use crate::LabError;

/// One parsed CSV file: lower-cased header names and the data rows.
#[derive(Debug, Clone)]
pub struct Table {
    /// The file name used in error messages.
    pub path: String,
    /// Header names, trimmed and lower-cased, in file order.
    pub columns: Vec<String>,
    /// Data rows, in file order.
    pub rows: Vec<Row>,
}

/// One data row and the 1-based line it came from.
#[derive(Debug, Clone)]
pub struct Row {
    pub line: usize,
    pub fields: Vec<String>,
}

impl Table {
    /// Parses CSV text. Blank lines and lines starting with `#` are skipped (so a file
    /// can carry a comment saying where its numbers come from); the first other line is
    /// the header. Fields may be quoted with `"` (`""` is a literal quote).
    pub fn parse(text: &str, path: &str) -> Result<Table, LabError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut columns: Option<Vec<String>> = None;
        let mut rows = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let trimmed = raw.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let fields = split_line(raw).map_err(|msg| csv_err(path, line, msg))?;
            match &columns {
                None => columns = Some(header(fields, path, line)?),
                Some(cols) if fields.len() != cols.len() => {
                    return Err(csv_err(
                        path,
                        line,
                        format!(
                            "this row has {} fields but the header has {} ({}); every row needs one value per column",
                            fields.len(),
                            cols.len(),
                            cols.join(",")
                        ),
                    ));
                }
                Some(_) => rows.push(Row { line, fields }),
            }
        }
        let columns = columns.ok_or_else(|| csv_err(path, 0, "the file is empty: expected a header line".into()))?;
        Ok(Table { path: path.to_string(), columns, rows })
    }

    /// Reads and parses a file.
    pub fn read(path: &std::path::Path) -> Result<Table, LabError> {
        let text = std::fs::read_to_string(path).map_err(|err| LabError::Io { path: path.into(), err })?;
        Table::parse(&text, &path.display().to_string())
    }

    /// The indices of the required columns, in the order asked. All missing names are
    /// reported at once, with the header that was found.
    pub fn require(&self, names: &[&str]) -> Result<Vec<usize>, LabError> {
        let missing: Vec<&str> = names.iter().copied().filter(|n| self.optional(n).is_none()).collect();
        if !missing.is_empty() {
            return Err(csv_err(
                &self.path,
                0,
                format!(
                    "missing column{} {} (the header has: {}); the header line must name the columns {} in any order",
                    if missing.len() > 1 { "s" } else { "" },
                    missing.join(", "),
                    self.columns.join(","),
                    names.join(",")
                ),
            ));
        }
        Ok(names.iter().filter_map(|n| self.optional(n)).collect())
    }

    /// The index of a column that may be absent.
    pub fn optional(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// An error at a row, for checks made by the callers.
    pub fn error(&self, line: usize, msg: String) -> LabError {
        csv_err(&self.path, line, msg)
    }

    /// A field that must be a positive, finite number.
    pub fn positive(&self, row: &Row, col: usize) -> Result<f64, LabError> {
        let v = self.number(row, col)?;
        if v > 0.0 {
            Ok(v)
        } else {
            Err(self
                .error(row.line, format!("column `{}` is {v}, but it must be a positive number", self.columns[col])))
        }
    }

    /// A field that must be a finite number.
    pub fn number(&self, row: &Row, col: usize) -> Result<f64, LabError> {
        let name = &self.columns[col];
        let s = row.fields[col].trim();
        if s.is_empty() {
            return Err(self.error(row.line, format!("column `{name}` is empty; it needs a number")));
        }
        match s.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(v),
            _ => Err(self.error(
                row.line,
                format!("column `{name}` is `{s}`, which is not a finite number (write e.g. 6e18 or 0.25)"),
            )),
        }
    }

    /// A field that may be empty: `None` when it is, else a finite number.
    pub fn maybe_number(&self, row: &Row, col: usize) -> Result<Option<f64>, LabError> {
        if row.fields[col].trim().is_empty() { Ok(None) } else { self.number(row, col).map(Some) }
    }
}

fn csv_err(path: &str, line: usize, msg: String) -> LabError {
    LabError::Csv { path: path.to_string(), line, msg }
}

fn header(fields: Vec<String>, path: &str, line: usize) -> Result<Vec<String>, LabError> {
    let cols: Vec<String> = fields.iter().map(|f| f.trim().to_ascii_lowercase()).collect();
    for (i, c) in cols.iter().enumerate() {
        if c.is_empty() {
            return Err(csv_err(path, line, format!("header column {} has no name", i + 1)));
        }
        if cols[..i].contains(c) {
            return Err(csv_err(path, line, format!("the header names column `{c}` twice")));
        }
    }
    Ok(cols)
}

/// Splits one line into fields, honouring `"` quotes (RFC 4180 within one line).
fn split_line(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (false, '"') if cur.trim().is_empty() => {
                cur.clear();
                quoted = true;
            }
            (false, ',') => fields.push(std::mem::take(&mut cur)),
            (_, c) => cur.push(c),
        }
    }
    if quoted {
        return Err("a quoted field is not closed on this line".into());
    }
    fields.push(cur);
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_found_by_name_in_any_order() {
        let t = Table::parse("# source: test\nLoss, tokens ,flops\n\n1.5,2e9,6e18\n", "r.csv").expect("parses");
        assert_eq!(t.require(&["flops", "loss"]).expect("present"), vec![2, 0]);
        assert_eq!(t.rows.len(), 1);
        assert_eq!(t.rows[0].line, 4);
        assert_eq!(t.positive(&t.rows[0], 1).expect("positive"), 2e9);
    }

    #[test]
    fn missing_columns_are_listed_together() {
        let t = Table::parse("flops,loss\n1,2\n", "r.csv").expect("parses");
        let e = t.require(&["flops", "params", "tokens", "loss"]).expect_err("missing").to_string();
        assert!(e.contains("r.csv") && e.contains("params, tokens") && e.contains("flops,loss"), "{e}");
    }

    #[test]
    fn bad_fields_name_the_line_and_column() {
        let t = Table::parse("a,b\n1,-2\nx,3\n", "r.csv").expect("parses");
        let e = t.positive(&t.rows[0], 1).expect_err("negative").to_string();
        assert!(e.starts_with("r.csv:2:") && e.contains("`b`") && e.contains("positive"), "{e}");
        let e = t.number(&t.rows[1], 0).expect_err("text").to_string();
        assert!(e.starts_with("r.csv:3:") && e.contains("`x`"), "{e}");
        let e = Table::parse("a,b\n1\n", "r.csv").expect_err("short row").to_string();
        assert!(e.starts_with("r.csv:2:") && e.contains("1 fields"), "{e}");
    }

    #[test]
    fn quotes_protect_commas() {
        assert_eq!(split_line(r#"1,"a, ""b""",3"#).expect("splits"), vec!["1", r#"a, "b""#, "3"]);
        assert!(split_line(r#"1,"open"#).is_err());
    }
}
