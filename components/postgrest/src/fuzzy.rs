//! "Perhaps you meant ..." hints: the best fuzzy match of a name among
//! candidates, scored as the fuzzyset library PostgREST uses (cosine
//! similarity of character 3-grams, then 2-grams, the best 50 rescored by
//! Levenshtein distance, matches below 0.33 dropped).

use std::collections::HashMap;

const MIN_SCORE: f64 = 0.33;

/// Lower case, and only letters, digits, `,` and space kept, between dashes.
fn grams(value: &str, size: usize) -> HashMap<String, usize> {
    let kept: String = value
        .to_lowercase()
        .chars()
        .filter(|c| {
            c.is_ascii_alphanumeric() || matches!(*c as u32, 0xC0..=0xFF) || *c == ',' || *c == ' '
        })
        .collect();
    let mut padded: Vec<char> = format!("-{kept}-").chars().collect();
    while padded.len() < size {
        padded.push('-');
    }
    let mut counts = HashMap::new();
    for w in padded.windows(size) {
        *counts.entry(w.iter().collect::<String>()).or_insert(0) += 1;
    }
    counts
}

fn norm(g: &HashMap<String, usize>) -> f64 {
    g.values().map(|c| (c * c) as f64).sum::<f64>().sqrt()
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The candidate closest to `value`, if any is close enough.
pub fn best_match<'a>(value: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let lower = value.to_lowercase();
    let same: Vec<&&str> = candidates
        .iter()
        .filter(|c| c.to_lowercase() == lower)
        .collect();
    if let Some(exact) = same
        .iter()
        .find(|c| c.to_lowercase() == ***c)
        .or(same.first())
    {
        return Some(exact);
    }
    for size in [3, 2] {
        let query = grams(value, size);
        let qnorm = norm(&query);
        let mut scored: Vec<(f64, &str)> = candidates
            .iter()
            .filter_map(|c| {
                let g = grams(c, size);
                let dot: usize = query
                    .iter()
                    .filter_map(|(k, n)| g.get(k).map(|m| n * m))
                    .sum();
                (dot > 0).then(|| (dot as f64 / (qnorm * norm(&g)), *c))
            })
            .collect();
        if scored.is_empty() {
            continue;
        }
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        scored.truncate(50);
        let mut rescored: Vec<(f64, &str)> = scored
            .into_iter()
            .map(|(_, c)| {
                let c_lower = c.to_lowercase();
                let longest = c_lower.chars().count().max(lower.chars().count()).max(1);
                (
                    1.0 - levenshtein(&c_lower, &lower) as f64 / longest as f64,
                    c,
                )
            })
            .collect();
        // Names equal but for case count once (as fuzzyset's exact set):
        // the all-lower-case spelling stands for them.
        rescored.sort_by(|a, b| {
            b.0.total_cmp(&a.0)
                .then_with(|| (a.1.to_lowercase() != a.1).cmp(&(b.1.to_lowercase() != b.1)))
        });
        if let Some((score, c)) = rescored.first() {
            if *score >= MIN_SCORE {
                return Some(c);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_as_postgrest_gives_them() {
        let tables = [
            "Foo",
            "foo",
            "articles",
            "collision_test_table",
            "private_table",
            "factories",
            "car_model_sales",
        ];
        assert_eq!(best_match("foozle", &tables), Some("foo"));
        assert_eq!(best_match("fake", &tables), Some("factories"));
        assert_eq!(best_match("faketable", &tables), Some("private_table"));
        assert_eq!(best_match("FOO", &tables), Some("foo"));
        assert_eq!(best_match("zzzz", &tables), None);
        assert_eq!(levenshtein("kitten", "sitting"), 3);
    }
}
