//! Column-aligned tables for `ls` and `images`.

/// Prints `header` and `rows`, each column as wide as its widest cell.
pub(crate) fn print<const N: usize>(header: [&str; N], rows: &[[String; N]]) -> anyhow::Result<()> {
    let header = header.map(String::from);
    let mut widths = header.clone().map(|h| h.chars().count());
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(rows) {
        let line: Vec<String> =
            row.iter().zip(widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
        crate::out::outln!("{}", line.join("  ").trim_end());
    }
    Ok(())
}
