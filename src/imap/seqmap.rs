//! Message sequence numbers → UIDs of the selected mailbox, as far as the session has seen
//! them.
//!
//! A server names messages by sequence number in untagged responses (`* 5 FETCH`, `* 3
//! EXPUNGE`, RFC 3501 §2.3.1.2), and a sequence number moves down by one for every message
//! expunged below it. The session learns which UID a number stands for from FETCH responses
//! that carry both. Only those pairs are stored, sorted by sequence number: the memory is
//! proportional to the FETCH responses actually received, never to a number the server merely
//! claims (`* 4294967295 EXISTS` costs nothing).
//!
//! A message keeps its UID for the whole session (RFC 3501 §2.3.1.1), so a FETCH response that
//! gives a known message number another UID, or a known UID another number (after the renumbering
//! that expunges cause), is a server error ([`Conflict`]): that is how a UID the server got
//! wrong in one response is caught before a message is delivered under it.

use std::collections::HashSet;

/// The known (sequence number, UID) pairs of the selected mailbox.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SeqMap {
    /// Sorted by sequence number, each number once.
    pairs: Vec<(u32, u32)>,
    /// The UIDs in `pairs`.
    uids: HashSet<u32>,
}

/// A FETCH response that contradicts what the session knows: (sequence number, UID known for
/// it or `None`, UID the response gave).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conflict {
    pub seq: u32,
    pub known: Option<u32>,
    pub uid: u32,
}

impl SeqMap {
    /// Forgets everything (a mailbox was selected).
    pub fn clear(&mut self) {
        self.pairs.clear();
        self.uids.clear();
    }

    /// How many messages have a known UID.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether no UID is known.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Records that message `seq` has UID `uid`, unless that contradicts what is known.
    pub fn insert(&mut self, seq: u32, uid: u32) -> Result<(), Conflict> {
        let at = match self.pairs.last() {
            // Listings come in ascending order: the common case costs a comparison.
            Some(&(last, _)) if last < seq => Err(self.pairs.len()),
            None => Err(0),
            _ => self.pairs.binary_search_by_key(&seq, |&(s, _)| s),
        };
        match at {
            Ok(i) if self.pairs[i].1 == uid => Ok(()),
            Ok(i) => Err(Conflict {
                seq,
                known: Some(self.pairs[i].1),
                uid,
            }),
            Err(_) if self.uids.contains(&uid) => Err(Conflict {
                seq,
                known: None,
                uid,
            }),
            Err(i) => {
                self.pairs.insert(i, (seq, uid));
                self.uids.insert(uid);
                Ok(())
            }
        }
    }

    /// The UID of message `seq`, if known.
    pub fn uid(&self, seq: u32) -> Option<u32> {
        self.pairs
            .binary_search_by_key(&seq, |&(s, _)| s)
            .ok()
            .map(|i| self.pairs[i].1)
    }

    /// Message `seq` was expunged: returns its UID if it was known; every later message moves
    /// down by one.
    pub fn expunge(&mut self, seq: u32) -> Option<u32> {
        let (uid, from) = match self.pairs.binary_search_by_key(&seq, |&(s, _)| s) {
            Ok(i) => {
                let uid = self.pairs.remove(i).1;
                self.uids.remove(&uid);
                (Some(uid), i)
            }
            Err(i) => (None, i),
        };
        for p in &mut self.pairs[from..] {
            p.0 -= 1;
        }
        uid
    }

    /// The mailbox holds `exists` messages: forgets anything numbered above.
    pub fn truncate(&mut self, exists: u32) {
        let keep = self.pairs.partition_point(|&(s, _)| s <= exists);
        for &(_, uid) in &self.pairs[keep..] {
            self.uids.remove(&uid);
        }
        self.pairs.truncate(keep);
    }

    /// The known UIDs.
    #[cfg(test)]
    pub fn uids(&self) -> impl Iterator<Item = u32> + '_ {
        self.pairs.iter().map(|&(_, u)| u)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_look_up_expunge() {
        let mut m = SeqMap::default();
        m.insert(1, 5).unwrap();
        m.insert(2, 8).unwrap();
        m.insert(4, 11).unwrap();
        m.insert(3, 9).unwrap();
        m.insert(2, 8).unwrap();
        assert_eq!(m.uids().collect::<Vec<_>>(), [5, 8, 9, 11]);
        assert_eq!(m.uid(4), Some(11));
        assert_eq!(m.uid(5), None);
        assert_eq!(m.expunge(2), Some(8));
        assert_eq!(m.uid(2), Some(9));
        assert_eq!(m.uid(3), Some(11));
        // An expunge of a message whose UID is unknown still renumbers the later ones.
        m.insert(10, 40).unwrap();
        assert_eq!(m.expunge(6), None);
        assert_eq!(m.uid(9), Some(40));
        m.truncate(3);
        assert_eq!(m.uids().collect::<Vec<_>>(), [5, 9, 11]);
        m.truncate(0);
        assert!(m.is_empty());
        m.insert(1, 40).unwrap();
    }

    #[test]
    fn contradictions_are_refused() {
        let mut m = SeqMap::default();
        m.insert(1, 5).unwrap();
        m.insert(2, 7).unwrap();
        // Message 1 cannot become UID 7, nor UID 5 message 3.
        assert_eq!(
            m.insert(1, 7),
            Err(Conflict {
                seq: 1,
                known: Some(5),
                uid: 7
            })
        );
        assert_eq!(
            m.insert(3, 5),
            Err(Conflict {
                seq: 3,
                known: None,
                uid: 5
            })
        );
        // After message 1 is expunged, UID 7 is message 1.
        m.expunge(1);
        m.insert(1, 7).unwrap();
        m.insert(2, 5).unwrap();
    }

    #[test]
    fn huge_numbers_cost_one_entry() {
        let mut m = SeqMap::default();
        m.insert(u32::MAX, 1).unwrap();
        assert_eq!(m.len(), 1);
        assert_eq!(m.uid(u32::MAX), Some(1));
        assert_eq!(m.expunge(1), None);
        assert_eq!(m.uid(u32::MAX - 1), Some(1));
    }
}
