//! Walking a whole DAG over IPFS gateways: one CAR request first (every
//! block verified, only the root's DAG accepted; `KuboStore::fetch_dag`),
//! held in memory in front of the store, which serves whatever the CAR
//! left out block by block.

use std::sync::Arc;

use hamt_codec::Cid;
use hamt_store::{BlockStore, DagScope, Prefetched};

use crate::backend::Backend;
use crate::output::Output;

/// Largest CAR held in memory; a bigger DAG is read block by block (after
/// at most this much was downloaded in vain, when the gateway announces no
/// length).
const MAX_CAR_BYTES: usize = 64 << 20;

impl Backend {
    /// The store to walk all of `root`'s DAG on: with `--kubo` and a
    /// gateway that serves CARs, the DAG fetched in one request first (up
    /// to 64 MiB); otherwise, or if that fails, the store itself.
    pub(crate) async fn for_whole_dag(&self, root: Cid, out: Output) -> Arc<dyn BlockStore> {
        let Some(kubo) = &self.kubo else {
            return self.blocks.clone();
        };
        match kubo.fetch_dag(&root, DagScope::All, MAX_CAR_BYTES).await {
            Ok(Some(blocks)) => {
                let ahead = Prefetched::new(blocks, self.blocks.clone());
                out.note(|| {
                    format!(
                        "{} blocks of {root} in one CAR from the gateway",
                        ahead.fetched()
                    )
                });
                Arc::new(ahead)
            }
            Ok(None) => self.blocks.clone(),
            Err(e) => {
                out.note(|| {
                    format!("no CAR of {root} from the gateway ({e}); reading block by block")
                });
                self.blocks.clone()
            }
        }
    }
}
