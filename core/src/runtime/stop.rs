//! Stopping (docs/architecture.md, "Box lifecycle"), bounded at every step because the agent
//! is the box's and may be wedged: ask the agent to shut down (SIGTERM to every process,
//! grace, SIGKILL); if it does not answer, SIGTERM the shim (its graceful stop); if the shim is
//! not gone soon after, SIGKILL it and every process left in the box's cgroups. The box ends
//! `stopped`, or `failed` with the reason when the shim had to be killed without leaving an
//! exit record; never `stopping`.

use std::time::Duration;

use boxlite_protocol::pb::ShutdownRequest;

use super::Runtime;
use crate::agent::{no_answer, status_error, AGENT_CALL_TIMEOUT};
use crate::db::BoxRecord;
use crate::error::{Error, ErrorKind, Result};
use crate::shim::ProcessRef;
use crate::status::BoxStatus;

/// After the agent answered (or, when it did not, after SIGTERM), how long the shim gets to
/// write the exit record and exit before it is killed.
const SHIM_EXIT_SLACK: Duration = Duration::from_secs(3);
/// How long a SIGKILLed shim gets to be gone (it has nothing left to do).
const SHIM_KILL_WAIT: Duration = Duration::from_secs(5);

/// How the shim went away.
enum Ending {
    /// On its own, after the agent's shutdown or the shim's graceful stop.
    Exited,
    /// Killed after the agent answered: the box's processes had their grace.
    KilledAfterAnswer,
    /// Killed because the agent did not answer; the reason for `failed`.
    Killed(String),
}

impl Runtime {
    pub(crate) async fn stop_box(&self, id: &str, grace: Duration) -> Result<()> {
        let _lock = self.lock_box(id).await?;
        let mut rec = self.resolve_existing(id)?;
        // A `stopping` box under the lock has no stop under way: the process that was stopping
        // it died mid-stop (its lock went with it), so this stop finishes it.
        let status = rec.state.status();
        if status == BoxStatus::Stopped {
            return Ok(());
        }
        if !status.can_stop() {
            return Err(Error::new(
                ErrorKind::InvalidState,
                format!("cannot stop box {id}: it is {status}"),
            ));
        }
        let Some(shim) = self.shim_process(&rec) else {
            return self.settle_exit(&rec, true);
        };
        if rec.state.status() == BoxStatus::Running {
            rec.state.transition(BoxStatus::Stopping)?;
            self.store().update_state(id, &rec.state)?;
        }
        // Our own child: a stop returns once it is reaped, not merely exited, so no zombie of
        // ours outlives the call (the reaper thread reaps it; this waits for that, bounded).
        let own = self.live().get(id).and_then(|live| live.shim.clone());
        let ended = self.bring_down(&rec, &shim, grace).await;
        if let (Some(own), Ok(_)) = (&own, &ended) {
            let _ = tokio::time::timeout(SHIM_KILL_WAIT, own.wait()).await;
        }
        match ended {
            Ok(Ending::Exited | Ending::KilledAfterAnswer) => self.settle_exit(&rec, true),
            Ok(Ending::Killed(reason)) => self.settle_killed(&rec, &reason),
            Err(e) => {
                // Nothing more can be done to it from here; the record says so.
                let mut state = rec.state.clone();
                state.mark_failed(format!("stop: {e}"));
                self.store().update_state(id, &state)?;
                self.live().remove(id);
                Err(e)
            }
        }
    }

    /// Takes the box down; every wait is bounded. `Err` only when the shim survived SIGKILL.
    async fn bring_down(
        &self,
        rec: &BoxRecord,
        shim: &ProcessRef,
        grace: Duration,
    ) -> Result<Ending> {
        let id = &rec.id;
        // The agent answers Shutdown after its grace; it gets a control deadline on top. The
        // shim exiting first (the agent ended without answering) ends the ask as well.
        let ask_budget = grace.saturating_add(AGENT_CALL_TIMEOUT);
        let ask = async {
            let mut agent = self.agent_for(rec).await?;
            let req =
                ShutdownRequest { grace_ms: u64::try_from(grace.as_millis()).unwrap_or(u64::MAX) };
            agent.shutdown(req).await.map(|_| ()).map_err(|s| status_error(id, "shutdown", s))
        };
        let asked = tokio::select! {
            answered = tokio::time::timeout(ask_budget, ask) => {
                answered.unwrap_or_else(|_| Err(no_answer(id, "shutdown", ask_budget)))
            }
            true = shim.wait_exit(ask_budget) => return Ok(Ending::Exited),
        };
        if let Err(e) = &asked {
            // The shim turns SIGTERM into its own graceful stop of the agent.
            shim.signal(libc::SIGTERM);
            if shim.wait_exit(SHIM_EXIT_SLACK).await {
                return Ok(Ending::Exited);
            }
            let reason = format!(
                "stop: {e}, and its shim (pid {}) did not exit within {} s of SIGTERM; the shim \
                 and the box's processes were killed",
                shim.pid(),
                SHIM_EXIT_SLACK.as_secs()
            );
            self.kill_box(id, shim).await?;
            return Ok(Ending::Killed(reason));
        }
        if shim.wait_exit(SHIM_EXIT_SLACK).await {
            return Ok(Ending::Exited);
        }
        self.kill_box(id, shim).await?;
        Ok(Ending::KilledAfterAnswer)
    }

    /// SIGKILL to the shim (its death takes the agent, PID 1 of the box, and with it the box's
    /// pid namespace), then to whatever is left in the box's cgroups.
    async fn kill_box(&self, id: &str, shim: &ProcessRef) -> Result<()> {
        shim.signal(libc::SIGKILL);
        let gone = shim.wait_exit(SHIM_KILL_WAIT).await;
        // Blocking waits, bounded; what survives them makes removing the cgroups fail, which
        // the settling reports.
        let box_id = id.to_string();
        let _ =
            tokio::task::spawn_blocking(move || crate::cgroups::kill_box_processes(&box_id)).await;
        if !gone {
            return Err(Error::new(
                ErrorKind::Timeout,
                format!("stop box {id}: its shim (pid {}) survived SIGKILL", shim.pid()),
            ));
        }
        Ok(())
    }
}
