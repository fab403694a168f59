//! Which deployment a request tries next: among those not tried yet for this
//! request and not cooling down, the best priority (lowest number) wins; within
//! it, weighted random (the default) or the fewest requests in flight. Pure: the
//! caller passes the random draw, so selection is testable to the last case.

/// The strategy a route selects its deployments with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    #[default]
    WeightedRandom,
    LeastInFlight,
}

/// One deployment as selection sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    pub weight: u32,
    pub priority: u32,
    pub in_flight: u32,
    /// False while cooling down (or probed by another request).
    pub available: bool,
    /// Already tried (and failed) by this request.
    pub tried: bool,
}

/// The index of the deployment to try, or `None` when every one was tried or is
/// cooling down. `draw` is uniform in `[0, 1)`.
pub fn pick(candidates: &[Candidate], strategy: Strategy, draw: f64) -> Option<usize> {
    let open = |c: &Candidate| c.available && !c.tried && c.weight > 0;
    let best = candidates.iter().filter(|c| open(c)).map(|c| c.priority).min()?;
    let group: Vec<usize> =
        (0..candidates.len()).filter(|&i| open(&candidates[i]) && candidates[i].priority == best).collect();
    match strategy {
        Strategy::LeastInFlight => {
            // Ties go to the heavier weight, then to the first listed.
            group.into_iter().min_by_key(|&i| (candidates[i].in_flight, std::cmp::Reverse(candidates[i].weight)))
        }
        Strategy::WeightedRandom => {
            let total: u64 = group.iter().map(|&i| u64::from(candidates[i].weight)).sum();
            let mut target = (draw.clamp(0.0, 1.0 - f64::EPSILON) * total as f64) as u64;
            for &i in &group {
                let weight = u64::from(candidates[i].weight);
                if target < weight {
                    return Some(i);
                }
                target -= weight;
            }
            group.last().copied()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(weight: u32, priority: u32) -> Candidate {
        Candidate { weight, priority, in_flight: 0, available: true, tried: false }
    }

    #[test]
    fn given_weights_3_and_1_when_drawn_evenly_then_three_quarters_go_to_the_first() {
        let candidates = [candidate(3, 0), candidate(1, 0)];
        let draws = 4_000;
        let first = (0..draws)
            .filter(|i| pick(&candidates, Strategy::WeightedRandom, f64::from(*i) / f64::from(draws)) == Some(0))
            .count();
        assert_eq!(first, 3_000);
    }

    #[test]
    fn given_priorities_when_picking_then_the_lowest_number_wins_until_it_is_unavailable() {
        let mut candidates = [candidate(1, 1), candidate(1, 0), candidate(5, 2)];
        assert_eq!(pick(&candidates, Strategy::WeightedRandom, 0.99), Some(1));
        candidates[1].available = false;
        assert_eq!(pick(&candidates, Strategy::WeightedRandom, 0.99), Some(0));
        candidates[0].tried = true;
        assert_eq!(pick(&candidates, Strategy::WeightedRandom, 0.0), Some(2));
        candidates[2].tried = true;
        assert_eq!(pick(&candidates, Strategy::WeightedRandom, 0.5), None);
    }

    #[test]
    fn given_least_in_flight_when_picking_then_the_idlest_deployment_wins() {
        let mut candidates = [candidate(1, 0), candidate(1, 0), candidate(9, 0)];
        candidates[0].in_flight = 4;
        candidates[1].in_flight = 1;
        candidates[2].in_flight = 1;
        assert_eq!(pick(&candidates, Strategy::LeastInFlight, 0.0), Some(2), "tie broken by weight");
        candidates[2].in_flight = 7;
        assert_eq!(pick(&candidates, Strategy::LeastInFlight, 0.0), Some(1));
    }

    #[test]
    fn given_nothing_when_picking_then_none() {
        assert_eq!(pick(&[], Strategy::WeightedRandom, 0.3), None);
    }
}
