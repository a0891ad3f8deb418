//! Pins through the RPC API.

use hamt_codec::Cid;
use hamt_store::StoreError;

use crate::{KuboError, KuboStore};

/// How a CID is pinned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PinKind {
    /// The block alone.
    Direct,
    /// The block and everything it links to.
    Recursive,
    /// Pinned through a recursive pin of an ancestor.
    Indirect,
}

impl PinKind {
    /// The name Kubo uses (`type=` and `Type`).
    pub const fn name(self) -> &'static str {
        match self {
            PinKind::Direct => "direct",
            PinKind::Recursive => "recursive",
            PinKind::Indirect => "indirect",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        match name {
            "direct" => Some(PinKind::Direct),
            "recursive" => Some(PinKind::Recursive),
            "indirect" => Some(PinKind::Indirect),
            _ => None,
        }
    }
}

impl KuboStore {
    /// Pins `root` and everything it links to (`pin/add?recursive=true`).
    pub async fn pin_add(&self, root: &Cid) -> Result<(), StoreError> {
        let path = format!("pin/add?arg={root}&recursive=true");
        self.rpc_call(&path, Some(root), self.inner.pin_timeout)
            .await
            .map(drop)
    }

    /// Removes the recursive pin of `root` (`pin/rm`).
    pub async fn pin_rm(&self, root: &Cid) -> Result<(), StoreError> {
        let path = format!("pin/rm?arg={root}&recursive=true");
        self.rpc_call(&path, None, self.inner.pin_timeout)
            .await
            .map(drop)
    }

    /// Moves a recursive pin from `from` to `to` (`pin/update`), keeping the
    /// old pin too unless `unpin`. Kubo pins only the difference, which is
    /// much cheaper than add + rm for a HAMT with a new root.
    pub async fn pin_update(&self, from: &Cid, to: &Cid, unpin: bool) -> Result<(), StoreError> {
        let path = format!("pin/update?arg={from}&arg={to}&unpin={unpin}");
        self.rpc_call(&path, None, self.inner.pin_timeout)
            .await
            .map(drop)
    }

    /// Every pin of `kind`, or of every kind with `None` (`pin/ls`).
    pub async fn pin_ls(&self, kind: Option<PinKind>) -> Result<Vec<(Cid, PinKind)>, StoreError> {
        let kind = kind.map_or("all", PinKind::name);
        let reply = self
            .rpc_call(&format!("pin/ls?type={kind}"), None, self.inner.pin_timeout)
            .await?;
        parse_pin_ls(&reply).map_err(|e| StoreError::backend("pin/ls", e))
    }

    /// How `cid` is pinned, if it is.
    pub async fn pin_status(&self, cid: &Cid) -> Result<Option<PinKind>, StoreError> {
        let path = format!("pin/ls?arg={cid}&type=all");
        match self.rpc_call(&path, None, self.inner.pin_timeout).await {
            Ok(reply) => {
                let pins = parse_pin_ls(&reply).map_err(|e| StoreError::backend("pin/ls", e))?;
                Ok(pins
                    .into_iter()
                    .find(|(c, _)| c == cid)
                    .map(|(_, kind)| kind))
            }
            Err(e) if is_not_pinned(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Whether an error is the daemon saying a CID is not pinned.
pub(crate) fn is_not_pinned(error: &StoreError) -> bool {
    let StoreError::Backend { source, .. } = error else {
        return false;
    };
    matches!(source.downcast_ref::<KuboError>(), Some(KuboError::Status { message, .. })
        if message.to_lowercase().contains("not pinned"))
}

/// Parses `{"Keys": {cid: {"Type": …, "Name"?: …}}}` (Kubo and js-ipfs) or
/// streamed lines of `{"Cid": …, "Type": …}`.
fn parse_pin_ls(reply: &[u8]) -> Result<Vec<(Cid, PinKind)>, KuboError> {
    let bad = |what: &str| KuboError::BadResponse(format!("pin/ls: {what}"));
    let mut pins = Vec::new();
    for line in reply
        .split(|&b| b == b'\n')
        .filter(|l| !l.trim_ascii().is_empty())
    {
        let json: serde_json::Value = serde_json::from_slice(line).map_err(|_| bad("not JSON"))?;
        if let Some(keys) = json.get("Keys").and_then(serde_json::Value::as_object) {
            for (cid, info) in keys {
                pins.push((parse_cid(cid)?, parse_kind(info.get("Type"))?));
            }
        } else {
            let cid = json
                .get("Cid")
                .and_then(serde_json::Value::as_str)
                .ok_or_else(|| bad("no Keys or Cid"))?;
            pins.push((parse_cid(cid)?, parse_kind(json.get("Type"))?));
        }
    }
    Ok(pins)
}

fn parse_cid(text: &str) -> Result<Cid, KuboError> {
    Cid::try_from(text).map_err(|e| KuboError::BadResponse(format!("pin/ls: bad CID: {e}")))
}

fn parse_kind(value: Option<&serde_json::Value>) -> Result<PinKind, KuboError> {
    value
        .and_then(serde_json::Value::as_str)
        .and_then(|t| PinKind::parse(t.split_whitespace().next().unwrap_or(t)))
        .ok_or_else(|| KuboError::BadResponse("pin/ls: missing or unknown Type".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CID: &str = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku";

    #[test]
    fn pin_ls_shapes() {
        let kubo = format!(r#"{{"Keys":{{"{CID}":{{"Type":"recursive","Name":""}}}}}}"#);
        let js = format!(r#"{{"Keys":{{"{CID}":{{"Type":"indirect"}}}}}}"#);
        let stream = format!("{{\"Cid\":\"{CID}\",\"Type\":\"direct\"}}\n");
        let kinds: Vec<_> = [kubo, js, stream]
            .iter()
            .map(|r| parse_pin_ls(r.as_bytes()).unwrap()[0].1)
            .collect();
        assert_eq!(
            kinds,
            [PinKind::Recursive, PinKind::Indirect, PinKind::Direct]
        );
        assert!(parse_pin_ls(br#"{"Keys":{"x":{"Type":"recursive"}}}"#).is_err());
    }
}
