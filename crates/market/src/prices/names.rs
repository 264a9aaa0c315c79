//! Pinyin keys of a commodity name, for search by full pinyin or initials.
//! Every reading of a polyphonic character is indexed (capped, so a name made of
//! many polyphonic characters cannot blow up the index).

use pinyin::{Pinyin, ToPinyinMulti};

const MAX_READINGS: usize = 16;

/// All (full pinyin, initials) spellings of `name`, lowercase, without spaces.
/// Characters without pinyin (digits, Latin letters) are kept as they are.
pub fn keys(name: &str) -> Vec<(String, String)> {
    let mut acc: Vec<(String, String)> = vec![(String::new(), String::new())];
    for ch in name.chars() {
        let readings: Vec<&'static str> = match ch.to_pinyin_multi() {
            Some(m) => m.into_iter().map(Pinyin::plain).collect(),
            None => {
                if ch.is_alphanumeric() {
                    let lower: String = ch.to_lowercase().collect();
                    for a in acc.iter_mut() {
                        a.0.push_str(&lower);
                        a.1.push_str(&lower);
                    }
                }
                continue;
            }
        };
        let mut next = Vec::with_capacity(acc.len() * readings.len());
        for a in &acc {
            for r in &readings {
                let mut full = a.0.clone();
                full.push_str(r);
                let mut ini = a.1.clone();
                ini.push_str(&r[..r.chars().next().map_or(0, char::len_utf8)]);
                if !next.contains(&(full.clone(), ini.clone())) {
                    next.push((full, ini));
                }
            }
        }
        next.truncate(MAX_READINGS);
        acc = next;
    }
    acc
}

/// A search text as the index compares it: lowercase, no spaces or apostrophes.
pub fn normalize(q: &str) -> String {
    q.chars()
        .filter(|c| !c.is_whitespace() && *c != '\'' && *c != '’')
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn has(name: &str, full: &str, ini: &str) -> bool {
        keys(name).iter().any(|(f, i)| f == full && i == ini)
    }

    #[test]
    fn common_produce_names_have_pinyin() {
        assert!(has("苹果", "pingguo", "pg"));
        assert!(has("梨", "li", "l"));
        assert!(has("茶叶", "chaye", "cy"));
        assert!(has("龙井茶", "longjingcha", "ljc"));
        assert!(has("猪肉", "zhurou", "zr"));
        assert!(has("大米", "dami", "dm"));
        assert!(has("玉米", "yumi", "ym"));
        assert!(has("土豆", "tudou", "td"));
        assert!(has("白菜", "baicai", "bc"));
        assert!(has("柑橘", "ganju", "gj"));
        assert!(has("香菇", "xianggu", "xg"));
        assert!(has("鸡蛋", "jidan", "jd"));
    }

    #[test]
    fn polyphonic_characters_index_every_reading() {
        // 长 is chang or zhang; 薄 is bo or bao.
        assert!(has("长豆角", "changdoujiao", "cdj"));
        assert!(has("长豆角", "zhangdoujiao", "zdj"));
        assert_eq!(normalize(" Ping Guo "), "pingguo");
    }
}
