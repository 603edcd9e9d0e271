//! Step 1 of the fetch (see the module documentation of [`crate::engine`]): before
//! connecting, the rows an interrupted run left in state `fetching` are resolved by asking the
//! delivery target whether their reserved location holds a complete message.

use super::EngineError;
use crate::deliver::{Deliver, Recovered};
use crate::ledger::Ledger;

/// Step 1: resolves the rows an interrupted run left in state `fetching`. Returns how many
/// turned out to be delivered.
pub fn recover(
    ledger: &mut Ledger,
    account: i64,
    target: &mut dyn Deliver,
) -> Result<usize, EngineError> {
    let rows = ledger.unresolved(account)?;
    if rows.is_empty() {
        return Ok(0);
    }
    let mut delivered = Vec::new();
    let mut missing = Vec::new();
    for row in rows {
        match target.recover(&row.location)? {
            Recovered::Delivered => delivered.push(row.key),
            Recovered::Missing => missing.push(row.key),
        }
    }
    log::info!(
        "recovered from an interrupted run: {} message(s) had been delivered, {} had not",
        delivered.len(),
        missing.len()
    );
    if !delivered.is_empty() {
        target.sync()?;
        ledger.mark_delivered(account, &delivered, crate::time::unix_now())?;
    }
    ledger.forget(account, &missing)?;
    Ok(delivered.len())
}
