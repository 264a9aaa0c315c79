//! The plain-text feed for LED controllers: fixed-width lines, where a CJK
//! character takes two columns (as it does on such panels).

/// Display width of a character: 2 for East Asian wide and full-width forms.
pub fn char_width(c: char) -> usize {
    let u = c as u32;
    let wide = matches!(u,
        0x1100..=0x115F | 0x2E80..=0x303E | 0x3041..=0x33FF | 0x3400..=0x4DBF |
        0x4E00..=0x9FFF | 0xA000..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF |
        0xFE30..=0xFE4F | 0xFF00..=0xFF60 | 0xFFE0..=0xFFE6 | 0x20000..=0x3FFFD);
    if wide { 2 } else { 1 }
}

pub fn width(s: &str) -> usize {
    s.chars().map(char_width).sum()
}

/// `s` cut to at most `max` columns (never splitting a wide character).
pub fn fit(s: &str, max: usize) -> String {
    let mut out = String::new();
    let mut w = 0;
    for c in s.chars() {
        let cw = char_width(c);
        if w + cw > max {
            break;
        }
        w += cw;
        out.push(c);
    }
    out
}

/// `left` and `right` on one line of `width` columns: the right part is kept
/// whole (it is the value), the left part is cut to make room.
pub fn line(left: &str, right: &str, width_cols: usize) -> String {
    let rw = width(right);
    if rw >= width_cols {
        return fit(right, width_cols);
    }
    let l = fit(left, width_cols - rw - 1);
    let pad = width_cols - width(&l) - rw;
    format!("{l}{}{right}", " ".repeat(pad))
}

/// Page `page` (of as many as needed) of `lines`, `count` lines per page.
pub fn page_of(lines: &[String], count: usize, page: usize) -> (Vec<String>, usize) {
    let pages = lines.len().div_ceil(count.max(1)).max(1);
    let p = page % pages;
    (
        lines.iter().skip(p * count).take(count).cloned().collect(),
        pages,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cjk_counts_double() {
        assert_eq!(width("茶园 23.5°C"), 4 + 1 + 6);
        assert_eq!(fit("龙井茶园", 5), "龙井");
    }

    #[test]
    fn lines_are_exactly_the_width() {
        let l = line("龙井茶园 土壤湿度", "31.5%", 16);
        assert_eq!(width(&l), 16);
        assert!(l.ends_with("31.5%"));
        assert!(l.starts_with("龙井茶园"));
    }
}
