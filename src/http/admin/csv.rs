//! CSV that Excel opens correctly: UTF-8 with a byte-order mark (else Excel guesses GBK and the
//! Chinese is garbled), CRLF line ends, every field quoted, and cells that a spreadsheet would
//! run as a formula (starting with = + - @, tab or CR) prefixed with `'`.

/// Builds the file in memory: an exam's export is at most some megabytes.
pub struct CsvWriter {
    out: String,
}

impl Default for CsvWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl CsvWriter {
    pub fn new() -> Self {
        Self {
            out: String::from('\u{feff}'),
        }
    }

    pub fn row<I, S>(&mut self, cells: I)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut first = true;
        for cell in cells {
            if !first {
                self.out.push(',');
            }
            first = false;
            self.out.push_str(&quote(cell.as_ref()));
        }
        self.out.push_str("\r\n");
    }

    /// The finished file as a download; it holds personal data, so nothing keeps a copy.
    pub fn into_download(self, filename: &str) -> axum::response::Response {
        use axum::http::header;
        use axum::response::IntoResponse;
        (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{filename}\""),
                ),
                (header::CACHE_CONTROL, "no-store".to_string()),
            ],
            self.finish(),
        )
            .into_response()
    }

    pub fn finish(self) -> String {
        self.out
    }
}

/// A long digit string (ID number, phone, trade number) that Excel must keep as text: otherwise it
/// shows 18-digit ID numbers as 1.10105E+17 and loses their last digits. A leading tab is the
/// customary way; it is not a formula trigger once the cell is quoted.
pub fn as_text(value: &str) -> String {
    if value.is_empty() {
        String::new()
    } else {
        format!("\t{value}")
    }
}

fn quote(cell: &str) -> String {
    let guarded = match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\r') => format!("'{cell}"),
        _ => cell.to_string(),
    };
    format!("\"{}\"", guarded.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excel_friendly() {
        let mut w = CsvWriter::new();
        w.row(["姓名", "备注"]);
        w.row(["张三", "say \"hi\", ok\nnext"]);
        w.row(["=HYPERLINK(\"x\")", "+1"]);
        w.row(["-2", "@SUM(A1)"]);
        let s = w.finish();
        assert!(s.starts_with('\u{feff}'));
        let lines: Vec<&str> = s.trim_start_matches('\u{feff}').split("\r\n").collect();
        assert_eq!(lines[0], "\"姓名\",\"备注\"");
        assert_eq!(lines[1], "\"张三\",\"say \"\"hi\"\", ok\nnext\"");
        assert_eq!(lines[2], "\"'=HYPERLINK(\"\"x\"\")\",\"'+1\"");
        assert_eq!(lines[3], "\"'-2\",\"'@SUM(A1)\"");
    }

    #[test]
    fn digit_strings_stay_text() {
        assert_eq!(as_text("11010519491231002X"), "\t11010519491231002X");
        assert_eq!(as_text(""), "");
    }
}
