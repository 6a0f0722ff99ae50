//! ROC AUC: the chance that a randomly chosen positive scores above a randomly chosen
//! negative, ties counting half. Computed as the Mann–Whitney U statistic from average ranks,
//! in O(n log n).

/// The ROC AUC of `scores` against `labels` (`true` = positive), or `None` when either class
/// is empty. Scores must be comparable (no NaN); a NaN sorts as equal to everything near it
/// and makes the result meaningless.
pub fn roc_auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let mut pairs: Vec<(f64, bool)> = scores.iter().copied().zip(labels.iter().copied()).collect();
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let positives = pairs.iter().filter(|(_, y)| *y).count();
    let negatives = pairs.len() - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }

    // Sum of the positives' ranks (1-based), giving each run of tied scores its average rank.
    let mut rank_sum = 0.0;
    let mut start = 0;
    while start < pairs.len() {
        let end = start
            + pairs[start..]
                .iter()
                .take_while(|p| p.0 == pairs[start].0)
                .count();
        let average_rank = (start + 1 + end) as f64 / 2.0;
        let tied_positives = pairs[start..end].iter().filter(|(_, y)| *y).count();
        rank_sum += average_rank * tied_positives as f64;
        start = end;
    }

    let (p, n) = (positives as f64, negatives as f64);
    Some((rank_sum - p * (p + 1.0) / 2.0) / (p * n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_pairs_won() {
        // Negatives 0.1 and 0.4, positives 0.35 and 0.8: of the four pairs the positive wins
        // three (0.35 > 0.1, 0.8 > 0.1, 0.8 > 0.4), so 3/4.
        let auc = roc_auc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]);
        assert_eq!(auc, Some(0.75));
    }

    #[test]
    fn ties_count_half() {
        // Positives 1 and 2, negatives 1 and 0: pairs (1,1) tie = 0.5, (1,0), (2,1), (2,0)
        // won: 3.5 / 4.
        let auc = roc_auc(&[1.0, 2.0, 1.0, 0.0], &[true, true, false, false]);
        assert_eq!(auc, Some(0.875));
        // Everything tied: no better than chance.
        assert_eq!(roc_auc(&[3.0; 4], &[true, false, true, false]), Some(0.5));
    }

    #[test]
    fn one_class_has_no_auc() {
        assert_eq!(roc_auc(&[1.0, 2.0], &[true, true]), None);
        assert_eq!(roc_auc(&[], &[]), None);
    }
}
