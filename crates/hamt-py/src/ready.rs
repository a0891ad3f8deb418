//! Running a Rust future for Python: finished at once when it can be,
//! otherwise an `asyncio.Future` of the caller's loop.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use pyo3::BoundObject;
use pyo3::prelude::*;
use pyo3::types::PyNone;

use crate::errors::Error;

/// A result that is Python's `None` (where `()` would be an empty tuple).
pub(crate) struct Nothing;

impl<'py> IntoPyObject<'py> for Nothing {
    type Target = PyNone;
    type Output = Borrowed<'py, 'py, PyNone>;
    type Error = std::convert::Infallible;

    fn into_pyobject(self, py: Python<'py>) -> Result<Self::Output, Self::Error> {
        Ok(PyNone::get(py))
    }
}

/// The tokio runtime every pending operation runs on (the one
/// `pyo3-async-runtimes` resolves Python futures from).
pub(crate) fn runtime() -> &'static tokio::runtime::Runtime {
    pyo3_async_runtimes::tokio::get_runtime()
}

/// Polls `fut` once on this thread, inside the runtime's context (so I/O it
/// starts registers with the runtime), with the GIL released if
/// `release_gil` (callers keep it only for small work that cannot block). If it
/// finished, returns its value converted to Python; if not, hands the same
/// future to the runtime and returns an awaitable `asyncio.Future` of the
/// running loop that resolves to the value. A future that needs no I/O (the
/// common case for writes into the buffer and cached reads) therefore costs
/// no thread hop and no event-loop wake-up.
pub(crate) fn ready_or_await<'py, F, T>(
    py: Python<'py>,
    release_gil: bool,
    fut: F,
) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = Result<T, Error>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    let mut fut = Box::pin(fut);
    let polled = if release_gil {
        py.detach(|| poll_once(fut.as_mut()))
    } else {
        poll_once(fut.as_mut())
    };
    match polled {
        Poll::Ready(result) => {
            let value = result?.into_pyobject(py).map_err(Into::into)?;
            Ok(value.into_any().into_bound())
        }
        Poll::Pending => {
            pyo3_async_runtimes::tokio::future_into_py(
                py,
                async move { fut.await.map_err(PyErr::from) },
            )
        }
    }
}

/// Runs `fut` to completion on the runtime, blocking this thread with the
/// GIL released. Only for setup calls made outside any event loop.
pub(crate) fn block_on<F, T>(py: Python<'_>, fut: F) -> Result<T, Error>
where
    F: Future<Output = Result<T, Error>> + Send,
    T: Send,
{
    py.detach(|| runtime().block_on(fut))
}

fn poll_once<F: Future + ?Sized>(fut: Pin<&mut F>) -> Poll<F::Output> {
    let _runtime = runtime().enter();
    fut.poll(&mut Context::from_waker(Waker::noop()))
}
