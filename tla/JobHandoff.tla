----------------------------- MODULE JobHandoff -----------------------------
\* The run_in_executor handoff (issue 4): a task on the loop thread awaits a job that a
\* worker thread runs, and is resumed through the loop's inbox; the task may be cancelled
\* (on the loop thread) and the loop may be closed. Action by action:
\*   executor/job.hpp            Job::execute / try_start / cancel, JobFor::invoke
\*   loop/thread_future.hpp      ThreadFutureBase::cancel / claim+publish / add_done_callback,
\*                               resume_when_done, ThreadFutureAwaiter
\*   executor/run_in_executor.hpp  DetachedJobAwaiter
\*   loop/task.hpp               TaskBase::suspend / resume_now (the suspension-number guard) /
\*                               resume_soon / request_cancel / abandon_all, SleepAwaiter
\*   loop/event_loop.hpp         LoopCore::post (refused after close), EventLoop::close
\*
\* The body of task t (J tasks; task t awaits job t; Kind[t] says which awaiter):
\*     try { co_await loop.run_in_executor(pool, fn);            // "normal"
\*           (or co_await run_in_executor_detached(pool, fn)) }  // "detached"
\*     catch (const CancelledError&) {}
\*     co_await sleep(0);          // a later suspension, which a stale wake could hit
\*     co_return;
\* (tests/run_in_executor_test.cpp's detached test has the same shape.)
\*
\* What it proves (BUG = "none"): whatever the interleaving of the workers, the task
\* steps, cancel() calls and close(),
\*  * the future's result is published once at most (the claim), with the right outcome;
\*  * a job runs at most once, and never when a cancel() won the QUEUED CAS;
\*  * every wake of a suspension resumes the task at most once (the resume_now guard),
\*    and a task's await_resume never reads a pending future;
\*  * a normal (non-detached) task resumes from the job's await only after the job
\*    returned and its future completed (the frame rule);
\*  * nothing runs on the loop after close(), abandoned tasks exist only after close();
\*  * the loop's ledgers balance (inbox: posted = run + refused + dropped + queued; local:
\*    posted = run + cancelled + dropped + queued/armed);
\*  * under weak fairness (the loop's own work, each worker; cancel() and close() are
\*    choices, not fair): every job ends (ran, or cancelled
\*    and discarded, or never submitted by a task that ended first), every task ends
\*    (done / cancelled / abandoned), every future completes, and the system goes quiet.
\*
\* ACTION <-> CODE
\*  loop thread (lpc "top": choose any ready work; the real loop's order -- inbox batch,
\*  then the ready phase, timers -- is one of the orders allowed here):
\*   LStart(t)     TaskBase::step, first step: cancelled before it started -> complete_cancelled;
\*                 else the body calls run_in_executor -> executor.submit(fn): the job is QUEUED
\*   LChk          ThreadFutureAwaiter / DetachedJobAwaiter::await_ready (future done?): done
\*                 -> no suspension, await_resume takes the value, then the sleep's await
\*   LAddCb        await_suspend: task.suspend() (n := ++suspension_), then resume_when_done:
\*                 add_done_callback; if the future already completed (callbacks CLOSED), the
\*                 callback runs here: call_soon_threadsafe(resume_now(n)) from the loop thread
\*   LRunInbox     run_inbox_batch: one posted resumption resume_now(n) (irun++)
\*   LRunReady     ready phase: one resume_soon's call_soon'd resume_now(n) (lrun++)
\*   LFireTimer(t) the sleep's timer fires: resume_now(n) (lrun++)
\*   LCancel(t)    the canceller's callback on the loop thread: task.cancel() =
\*                 request_cancel: cancel_requested_ = true; waiter_->on_cancel() if suspended:
\*                   job awaiter:  future.cancel() -> cancel hook -> Job::cancel: CAS
\*                                 QUEUED->CANCELLED; the winner completes the future
\*                                 (claim+publish) and runs its done callback, which posts
\*                                 resume_now(n) into the loop's own inbox;
\*                                 detached (and BUG "early"): then resume_soon(n)
\*                   sleep:        timer_.cancel(), resume_soon(n)
\*   LClose        stop, then close(): the inbox is closed (later posts refused), its items
\*                 and the ready queue and the timers dropped, abandon_all: every task not
\*                 done completes with LoopClosedError (its frame destroyed)
\*   Resume(t, n)  TaskBase::resume_now(n): ignored unless n = suspension_ and resume_point_
\*                 is set (BUG "noguard": only resume_point_); then step(): await_resume
\*                 (throw_if_cancelled, else take()), the catch, the sleep's await_suspend
\*                 (suspend, call_later), or the end of the body
\*  worker w (W threads, taking jobs from the pool's queues):
\*   idle          pop any queued job and Job::execute: try_start = CAS QUEUED->RUNNING; lost
\*                 (CANCELLED) -> release() (discarded).  BUG "noclaim"
\*                 (HANDOFF_MUTANT_JOB_NO_CLAIM): load; != QUEUED -> discard; else "set"
\*   set           (BUG "noclaim" only) state_.store(RUNNING)
\*   fn            fn() runs (jrun = "running" while the worker is here); it returns:
\*                 set_value: claim (PENDING->COMPLETING, one winner) + publish (DONE, take
\*                 the callbacks); a loser's set_value returns false
\*   post          the done callback of resume_when_done: call_soon_threadsafe(resume_now(n))
\*                 -> LoopCore::post: pushed, or refused (closed: counted, LoopClosedError caught)
\*
\* ABSTRACTIONS (read before trusting a green run)
\*  * Sequentially consistent memory; every atomic RMW is one step. The queues of the pool
\*    are a set (any worker takes any queued job: work stealing and parking are
\*    ChaseLevDeque.tla / Parking.tla); pop + try_start is one step (nothing observes the
\*    entry in between). A worker never exits.
\*  * LoopCore::post is one step (posted.add + push, or posted.add + refused.add: the
\*    step order is LoopClose.tla's); the inbox is a FIFO whose close is atomic with the
\*    pushes (MpscInbox.tla). The sleep/wake of the loop is an await (LoopWake.tla).
\*  * A future's claim + publish is one step per completer (COMPLETING is observable only by
\*    cancel()'s fetch_or, not modelled; cancel()'s CANCEL_REQUESTED bit is not modelled:
\*    the job's cancel hook is always called while the future is pending). Waiters in get()
\*    are not modelled (no thread calls get() here; the awaiters take() on the loop).
\*  * The loop thread's on_cancel is one step (the CAS, the winner's claim/publish and its
\*    post): after a won CAS no other thread touches that job's state or future; a worker
\*    popping the cancelled entry commutes with the rest.
\*  * close() is one step (loop-private after the inbox is closed; LoopClose.tla has its
\*    phases). Tasks' first steps are chosen in any order (not queued in ready_).
\*  * Each task is cancelled at most Cancels times; one job per task; a task's body is
\*    the one above (the await of the job, then sleep(0)). Not modelled: cancel() from other
\*    threads of the ThreadFuture itself, shutdown(cancel_futures), cancel requested before
\*    the await (the task's first step and the await are one loop step here, so no cancel
\*    can land in between), exceptions thrown by fn (a value and an exception are published
\*    alike), the default executor's shutdown at close.
\*
\* BUG (seeded, separate cfgs):
\*  "noguard"  HANDOFF_MUTANT_RESUME_NO_GUARD: resume_now without the suspension check
\*  "noclaim"  HANDOFF_MUTANT_JOB_NO_CLAIM: try_start as load-then-store
\*  "early"    the normal awaiter resumes at once on cancel (as the detached one does)
\*
\* Single module on purpose (tla-checker ignores EXTENDS of user modules).

EXTENDS Naturals, Sequences, FiniteSets

CONSTANTS
  Kind,      \* Kind[t]: "normal" (co_await run_in_executor) or "detached" (run_in_executor_detached)
  W,         \* worker threads
  Cancels,   \* cancel() calls per task, at most (0..2)
  Close,     \* "any": the loop may stop and close() at any point; "never"
  BUG        \* "none" | "noguard" | "noclaim" | "early" | "closeframe"

J == Len(Kind)
Tasks == 1..J
Workers == 1..W
ASSUME /\ J \in 1..3 /\ \A t \in Tasks : Kind[t] \in {"normal", "detached"}
       /\ W \in 1..3 /\ Cancels \in 0..2 /\ Close \in {"any", "never"}
       /\ BUG \in {"none", "noguard", "noclaim", "early", "closeframe"}

VARIABLES
  \* the loop thread
  lpc,       \* "top" | "chk" | "addcb" (inside task lt's first step) | "closed"
  lt,        \* the task whose first step the loop is running (0: none)
  inbox,     \* the inbox: FIFO of <<t, n>> = resume_now(n) of task t (posted cross-thread)
  ready,     \* ready_: FIFO of <<t, n>> = resume_soon's call_soon'd resume_now(n)
  timer,     \* timer[t]: the armed sleep timer's suspension number (0: none)
  \* tasks
  tpc,       \* "new" | "await1" (the job's await) | "await2" (sleep) | "done" | "cancelled" | "abandoned"
  susp,      \* suspension_
  waiter,    \* waiter_: "none" | "job" | "sleep"
  creq,      \* cancel_requested_
  ncancel,   \* cancel() calls made on the task
  past1,     \* ghost: the task got past the job's await (await_resume ran)
  rcount,    \* ghost: rcount[t][n] = resumptions of t run by a wake carrying n
  badTake,   \* ghost: an await_resume read a pending future
  \* jobs and their futures (job t belongs to task t)
  js,        \* Job::state_: "none" (not submitted) | "queued" | "running" | "cancelled"
  queue,     \* the pool's queued entries (jobs)
  jrun,      \* fn: "no" | "running" | "returned"
  runs,      \* ghost: times fn was started
  cwon,      \* ghost: Job::cancel CASes that won
  fut,       \* the ThreadFuture: "none" | "pending" | "value" | "cancelled"
  pubs,      \* ghost: successful claims (publications)
  cb,        \* the done callback of resume_when_done: "none" | "reg" | "taken" (by a publish)
  cbn,       \* its suspension number
  \* workers
  wpc,       \* "idle" | "set" | "fn" | "post"
  wj,        \* the job the worker holds (0: none)
  \* the loop's ledger
  iposted, irun, irefused, idropped,          \* cross-thread posts (the inbox)
  lposted, lrun, lcancelled, ldropped         \* the loop's own call_soon / call_later

loopVars   == <<lpc, lt, inbox, ready, timer>>
taskVars   == <<tpc, susp, waiter, creq, ncancel, past1, rcount, badTake>>
jobVars    == <<js, queue, jrun, runs, cwon, fut, pubs, cb, cbn>>
workerVars == <<wpc, wj>>
ledgerVars == <<iposted, irun, irefused, idropped, lposted, lrun, lcancelled, ldropped>>
vars == <<lpc, lt, inbox, ready, timer, tpc, susp, waiter, creq, ncancel, past1, rcount, badTake,
          js, queue, jrun, runs, cwon, fut, pubs, cb, cbn, wpc, wj,
          iposted, irun, irefused, idropped, lposted, lrun, lcancelled, ldropped>>

Final(t) == tpc[t] \in {"done", "cancelled", "abandoned"}
Closed == lpc = "closed"
Armed == {t \in Tasks : timer[t] # 0}

Init ==
  /\ lpc = "top" /\ lt = 0 /\ inbox = <<>> /\ ready = <<>> /\ timer = [t \in Tasks |-> 0]
  /\ tpc = [t \in Tasks |-> "new"] /\ susp = [t \in Tasks |-> 0]
  /\ waiter = [t \in Tasks |-> "none"] /\ creq = [t \in Tasks |-> FALSE]
  /\ ncancel = [t \in Tasks |-> 0] /\ past1 = [t \in Tasks |-> FALSE]
  /\ rcount = [t \in Tasks |-> <<0, 0>>] /\ badTake = FALSE
  /\ js = [t \in Tasks |-> "none"] /\ queue = {} /\ jrun = [t \in Tasks |-> "no"]
  /\ runs = [t \in Tasks |-> 0] /\ cwon = [t \in Tasks |-> 0]
  /\ fut = [t \in Tasks |-> "none"] /\ pubs = [t \in Tasks |-> 0]
  /\ cb = [t \in Tasks |-> "none"] /\ cbn = [t \in Tasks |-> 0]
  /\ wpc = [w \in Workers |-> "idle"] /\ wj = [w \in Workers |-> 0]
  /\ iposted = 0 /\ irun = 0 /\ irefused = 0 /\ idropped = 0
  /\ lposted = 0 /\ lrun = 0 /\ lcancelled = 0 /\ ldropped = 0

-----------------------------------------------------------------------------
\* The loop thread.

\* resume_now(n) of task t, run by the loop (from the inbox, the ready queue or a timer).
\* tm: the timers after the caller's own change. Sets tpc, susp, waiter, creq, past1,
\* rcount, badTake, timer, lposted.
Resume(t, n, tm) ==
  IF ~(tpc[t] \in {"await1", "await2"} /\ (BUG = "noguard" \/ n = susp[t]))
    THEN \* stale (or the task is done / abandoned): ignored
         /\ timer' = tm
         /\ UNCHANGED <<tpc, susp, waiter, creq, past1, rcount, badTake, lposted>>
    ELSE
      /\ rcount' = [rcount EXCEPT ![t][n] = @ + 1]
      /\ creq' = [creq EXCEPT ![t] = FALSE]     \* thrown by await_resume, or was not set
      /\ IF tpc[t] = "await1"
           THEN \* await_resume: throw_if_cancelled (caught by the body), else take();
                \* then sleep(0): cancel_requested_ is clear, so it suspends and arms a timer
                /\ past1' = [past1 EXCEPT ![t] = TRUE]
                /\ badTake' = (badTake \/ (~creq[t] /\ fut[t] = "pending"))
                /\ susp' = [susp EXCEPT ![t] = @ + 1]
                /\ timer' = [tm EXCEPT ![t] = susp[t] + 1]
                /\ lposted' = lposted + 1
                /\ waiter' = [waiter EXCEPT ![t] = "sleep"]
                /\ tpc' = [tpc EXCEPT ![t] = "await2"]
           ELSE \* the sleep's await_resume: CancelledError ends the task, else co_return
                /\ tpc' = [tpc EXCEPT ![t] = IF creq[t] THEN "cancelled" ELSE "done"]
                /\ waiter' = [waiter EXCEPT ![t] = "none"]
                /\ timer' = tm
                /\ UNCHANGED <<susp, past1, badTake, lposted>>

\* The first step of task t (TaskBase::step): cancelled before it started, or submit.
LStart(t) ==
  /\ tpc[t] = "new"
  /\ IF creq[t]
       THEN /\ tpc' = [tpc EXCEPT ![t] = "cancelled"]          \* complete_cancelled
            /\ UNCHANGED <<lpc, lt, js, queue, fut>>
       ELSE /\ js' = [js EXCEPT ![t] = "queued"]                \* executor.submit(fn)
            /\ queue' = queue \cup {t}
            /\ fut' = [fut EXCEPT ![t] = "pending"]
            /\ lpc' = "chk"
            /\ lt' = t
            /\ UNCHANGED tpc
  /\ UNCHANGED <<inbox, ready, timer, susp, waiter, creq, ncancel, past1, rcount, badTake,
                 jrun, runs, cwon, pubs, cb, cbn, workerVars, ledgerVars>>

\* await_ready: the future already done -> no suspension; await_resume takes the value
\* (task_ is null: no cancellation check); then sleep(0) suspends (suspension n + 1).
LChk ==
  LET t == lt IN
  IF fut[t] # "pending"
    THEN /\ past1' = [past1 EXCEPT ![t] = TRUE]
         /\ susp' = [susp EXCEPT ![t] = @ + 1]
         /\ timer' = [timer EXCEPT ![t] = susp[t] + 1]
         /\ lposted' = lposted + 1
         /\ waiter' = [waiter EXCEPT ![t] = "sleep"]
         /\ tpc' = [tpc EXCEPT ![t] = "await2"]
         /\ lpc' = "top"
         /\ lt' = 0
         /\ UNCHANGED <<inbox, ready, creq, ncancel, rcount, badTake, jobVars, workerVars,
                        iposted, irun, irefused, idropped, lrun, lcancelled, ldropped>>
    ELSE /\ lpc' = "addcb"
         /\ UNCHANGED <<lt, inbox, ready, timer, taskVars, jobVars, workerVars, ledgerVars>>

\* await_suspend: n := task.suspend(this, h); resume_when_done(future, task, n):
\* add_done_callback registers it, or (the future completed meanwhile: CLOSED) runs it
\* here: call_soon_threadsafe(resume_now(n)) into the loop's own (open) inbox.
LAddCb ==
  LET t == lt
      n == susp[t] + 1 IN
  /\ susp' = [susp EXCEPT ![t] = n]
  /\ waiter' = [waiter EXCEPT ![t] = "job"]
  /\ tpc' = [tpc EXCEPT ![t] = "await1"]
  /\ cbn' = [cbn EXCEPT ![t] = n]
  /\ IF fut[t] = "pending"
       THEN /\ cb' = [cb EXCEPT ![t] = "reg"]
            /\ UNCHANGED <<inbox, iposted>>
       ELSE /\ inbox' = Append(inbox, <<t, n>>)
            /\ iposted' = iposted + 1
            /\ UNCHANGED cb
  /\ lpc' = "top"
  /\ lt' = 0
  /\ UNCHANGED <<ready, timer, creq, ncancel, past1, rcount, badTake,
                 js, queue, jrun, runs, cwon, fut, pubs, workerVars,
                 irun, irefused, idropped, lposted, lrun, lcancelled, ldropped>>

LRunInbox ==
  /\ inbox # <<>>
  /\ inbox' = Tail(inbox)
  /\ irun' = irun + 1
  /\ Resume(inbox[1][1], inbox[1][2], timer)
  /\ UNCHANGED <<lpc, lt, ready, ncancel, jobVars, workerVars,
                 iposted, irefused, idropped, lrun, lcancelled, ldropped>>

LRunReady ==
  /\ ready # <<>>
  /\ ready' = Tail(ready)
  /\ lrun' = lrun + 1
  /\ Resume(ready[1][1], ready[1][2], timer)
  /\ UNCHANGED <<lpc, lt, inbox, ncancel, jobVars, workerVars,
                 iposted, irun, irefused, idropped, lcancelled, ldropped>>

LFireTimer(t) ==
  /\ timer[t] # 0
  /\ lrun' = lrun + 1
  /\ Resume(t, timer[t], [timer EXCEPT ![t] = 0])
  /\ UNCHANGED <<lpc, lt, inbox, ready, ncancel, jobVars, workerVars,
                 iposted, irun, irefused, idropped, lcancelled, ldropped>>

\* ThreadFutureBase::cancel() -> hook -> Job::cancel() on the loop thread: CAS
\* QUEUED->CANCELLED; the winner's complete_with: claim + publish; the done callback it
\* takes posts resume_now(n) into the (open) inbox. Sets js, cwon, fut, pubs, cb, inbox, iposted.
FutCancel(t) ==
  IF fut[t] = "pending" /\ js[t] = "queued"
    THEN /\ js' = [js EXCEPT ![t] = "cancelled"]
         /\ cwon' = [cwon EXCEPT ![t] = @ + 1]
         /\ fut' = [fut EXCEPT ![t] = "cancelled"]
         /\ pubs' = [pubs EXCEPT ![t] = @ + 1]
         /\ IF cb[t] = "reg"
              THEN /\ cb' = [cb EXCEPT ![t] = "taken"]
                   /\ inbox' = Append(inbox, <<t, cbn[t]>>)
                   /\ iposted' = iposted + 1
              ELSE UNCHANGED <<cb, inbox, iposted>>
    ELSE UNCHANGED <<js, cwon, fut, pubs, cb, inbox, iposted>>   \* done, or too late (RUNNING)

\* TaskBase::resume_soon(n): guard, waiter_ = nullptr, call_soon(resume_now(n)).
ResumeSoon(t) ==
  IF tpc[t] \in {"await1", "await2"}
    THEN /\ ready' = Append(ready, <<t, susp[t]>>)
         /\ lposted' = lposted + 1
         /\ waiter' = [waiter EXCEPT ![t] = "none"]
    ELSE UNCHANGED <<ready, lposted, waiter>>

\* task.cancel() on the loop thread (the canceller's callback): request_cancel.
LCancel(t) ==
  /\ ncancel[t] < Cancels
  /\ ~Final(t)
  /\ ncancel' = [ncancel EXCEPT ![t] = @ + 1]
  /\ creq' = [creq EXCEPT ![t] = TRUE]
  /\ CASE waiter[t] = "job" ->
            \* ThreadFutureAwaiter::on_cancel: s_->cancel(); the task waits for the future.
            \* DetachedJobAwaiter::on_cancel: f_.cancel(); resume_soon(suspension_).
            /\ FutCancel(t)
            /\ IF Kind[t] = "detached" \/ BUG = "early"
                 THEN ResumeSoon(t)
                 ELSE UNCHANGED <<ready, lposted, waiter>>
            /\ UNCHANGED <<timer, lcancelled>>
       [] waiter[t] = "sleep" ->
            \* SleepAwaiter::on_cancel: timer_.cancel(); resume_soon(n_)
            /\ timer' = [timer EXCEPT ![t] = 0]
            /\ lcancelled' = lcancelled + IF timer[t] # 0 THEN 1 ELSE 0
            /\ ResumeSoon(t)
            /\ UNCHANGED <<js, cwon, fut, pubs, cb, inbox, iposted>>
       [] OTHER ->
            \* not suspended at a waiter (not started: its step is scheduled; or woken):
            \* the request is delivered at the next step / await
            UNCHANGED <<ready, lposted, waiter, timer, lcancelled, js, cwon, fut, pubs, cb,
                        inbox, iposted>>
  /\ UNCHANGED <<lpc, lt, tpc, susp, past1, rcount, badTake, queue, jrun, runs, cbn,
                 workerVars, irun, irefused, idropped, lrun, ldropped>>

\* stop(), then close(): inbox closed (later posts refused), everything queued dropped,
\* timers dropped, every task not done abandoned (LoopClosedError, frame destroyed).
\* The fix of the finding (ThreadFutureAwaiter::on_abandon): before a normal task's frame is
\* destroyed, close() cancels its job if still queued, else waits until the job's future is
\* done. Abstracted here as a guard: close() happens only once no abandoned normal task's
\* job can still run (its future done, or the job cancelled); a queued job gets there by the
\* workers or a cancel, both fair or free. BUG "closeframe": the code before the fix (no guard).
CloseMayDestroyFrames ==
  \A t \in Tasks : (Kind[t] = "normal" /\ ~Final(t)) => (js[t] \in {"none", "cancelled"} \/ fut[t] # "pending")
LClose ==
  /\ Close = "any"
  /\ (BUG = "closeframe" \/ CloseMayDestroyFrames)
  /\ lpc' = "closed"
  /\ inbox' = <<>>
  /\ idropped' = idropped + Len(inbox)
  /\ ready' = <<>>
  /\ timer' = [t \in Tasks |-> 0]
  /\ ldropped' = ldropped + Len(ready) + Cardinality(Armed)
  /\ tpc' = [t \in Tasks |-> IF Final(t) THEN tpc[t] ELSE "abandoned"]
  /\ waiter' = [t \in Tasks |-> "none"]
  /\ UNCHANGED <<lt, susp, creq, ncancel, past1, rcount, badTake, jobVars, workerVars,
                 iposted, irun, irefused, lposted, lrun, lcancelled>>

\* The loop's own work (what run_forever does when work is there) ...
LWork ==
  CASE lpc = "top"   -> \/ \E t \in Tasks : LStart(t)
                        \/ LRunInbox
                        \/ LRunReady
                        \/ \E t \in Tasks : LFireTimer(t)
    [] lpc = "chk"   -> LChk
    [] lpc = "addcb" -> LAddCb
    [] OTHER         -> FALSE

\* ... and the environment's choices, also on the loop thread: a cancel() callback, and
\* stop() + close(). Not fair: no run has to cancel or close (a close would otherwise
\* end every run and hide a lost resumption from the liveness properties).
LEnv ==
  /\ lpc = "top"
  /\ \/ \E t \in Tasks : LCancel(t)
     \/ LClose

Loop == LWork \/ LEnv

-----------------------------------------------------------------------------
\* Worker w.

\* Pop a queued job and Job::execute(): try_start (CAS; BUG noclaim: the load).
WTake(w) ==
  /\ queue # {}
  /\ \E j \in queue :
       /\ queue' = queue \ {j}
       /\ IF js[j] = "queued"
            THEN IF BUG = "noclaim"
                   THEN /\ wpc' = [wpc EXCEPT ![w] = "set"]
                        /\ wj' = [wj EXCEPT ![w] = j]
                        /\ UNCHANGED <<js, jrun, runs>>
                   ELSE /\ js' = [js EXCEPT ![j] = "running"]
                        /\ jrun' = [jrun EXCEPT ![j] = "running"]
                        /\ runs' = [runs EXCEPT ![j] = @ + 1]
                        /\ wpc' = [wpc EXCEPT ![w] = "fn"]
                        /\ wj' = [wj EXCEPT ![w] = j]
            ELSE UNCHANGED <<js, jrun, runs, wpc, wj>>    \* cancelled: release(), discarded
  /\ UNCHANGED <<loopVars, taskVars, cwon, fut, pubs, cb, cbn, ledgerVars>>

\* BUG noclaim: state_.store(RUNNING) after the load saw QUEUED.
WSet(w) ==
  LET j == wj[w] IN
  /\ js' = [js EXCEPT ![j] = "running"]
  /\ jrun' = [jrun EXCEPT ![j] = "running"]
  /\ runs' = [runs EXCEPT ![j] = @ + 1]
  /\ wpc' = [wpc EXCEPT ![w] = "fn"]
  /\ UNCHANGED <<wj, queue, loopVars, taskVars, cwon, fut, pubs, cb, cbn, ledgerVars>>

\* fn returns; set_value: claim + publish, taking the done callback (if registered).
WFn(w) ==
  LET j == wj[w] IN
  /\ jrun' = [jrun EXCEPT ![j] = "returned"]
  /\ IF fut[j] = "pending"
       THEN /\ fut' = [fut EXCEPT ![j] = "value"]
            /\ pubs' = [pubs EXCEPT ![j] = @ + 1]
            /\ IF cb[j] = "reg"
                 THEN /\ cb' = [cb EXCEPT ![j] = "taken"]
                      /\ wpc' = [wpc EXCEPT ![w] = "post"]
                      /\ UNCHANGED wj
                 ELSE /\ wpc' = [wpc EXCEPT ![w] = "idle"]
                      /\ wj' = [wj EXCEPT ![w] = 0]
                      /\ UNCHANGED cb
       ELSE /\ wpc' = [wpc EXCEPT ![w] = "idle"]      \* claim lost: set_value returns false
            /\ wj' = [wj EXCEPT ![w] = 0]
            /\ UNCHANGED <<fut, pubs, cb>>
  /\ UNCHANGED <<js, queue, runs, cwon, cbn, loopVars, taskVars, ledgerVars>>

\* The done callback: call_soon_threadsafe(resume_now(n)) -> LoopCore::post.
WPost(w) ==
  LET j == wj[w] IN
  /\ iposted' = iposted + 1
  /\ IF Closed
       THEN /\ irefused' = irefused + 1                 \* refused; LoopClosedError caught
            /\ UNCHANGED inbox
       ELSE /\ inbox' = Append(inbox, <<j, cbn[j]>>)
            /\ UNCHANGED irefused
  /\ wpc' = [wpc EXCEPT ![w] = "idle"]
  /\ wj' = [wj EXCEPT ![w] = 0]
  /\ UNCHANGED <<lpc, lt, ready, timer, taskVars, jobVars,
                 irun, idropped, lposted, lrun, lcancelled, ldropped>>

Worker(w) ==
  CASE wpc[w] = "idle" -> WTake(w)
    [] wpc[w] = "set"  -> WSet(w)
    [] wpc[w] = "fn"   -> WFn(w)
    [] wpc[w] = "post" -> WPost(w)
    [] OTHER           -> FALSE

-----------------------------------------------------------------------------
\* Everything has ended: every task final, no job queued or held, nothing to run.
AllDone ==
  /\ \A t \in Tasks : Final(t)
  /\ queue = {}
  /\ \A w \in Workers : wpc[w] = "idle"
  /\ inbox = <<>> /\ ready = <<>> /\ Armed = {}
  /\ lpc \in {"top", "closed"}

Terminating == AllDone /\ UNCHANGED vars

Next == Loop \/ (\E w \in Workers : Worker(w)) \/ Terminating

Spec == Init /\ [][Next]_vars /\ WF_vars(LWork) /\ (\A w \in Workers : WF_vars(Worker(w)))

-----------------------------------------------------------------------------
\* INVARIANTS

TypeOK ==
  /\ lpc \in {"top", "chk", "addcb", "closed"} /\ lt \in 0..J
  /\ \A i \in 1..Len(inbox) : inbox[i][1] \in Tasks /\ inbox[i][2] \in 1..2
  /\ \A i \in 1..Len(ready) : ready[i][1] \in Tasks /\ ready[i][2] \in 1..2
  /\ \A t \in Tasks :
       /\ timer[t] \in 0..2
       /\ tpc[t] \in {"new", "await1", "await2", "done", "cancelled", "abandoned"}
       /\ susp[t] \in 0..2 /\ waiter[t] \in {"none", "job", "sleep"}
       /\ creq[t] \in BOOLEAN /\ ncancel[t] \in 0..Cancels /\ past1[t] \in BOOLEAN
       /\ rcount[t][1] \in Nat /\ rcount[t][2] \in Nat
       /\ js[t] \in {"none", "queued", "running", "cancelled"}
       /\ jrun[t] \in {"no", "running", "returned"}
       /\ runs[t] \in Nat /\ cwon[t] \in Nat /\ pubs[t] \in Nat
       /\ fut[t] \in {"none", "pending", "value", "cancelled"}
       /\ cb[t] \in {"none", "reg", "taken"} /\ cbn[t] \in 0..2
  /\ badTake \in BOOLEAN /\ queue \subseteq Tasks
  /\ \A w \in Workers : wpc[w] \in {"idle", "set", "fn", "post"} /\ wj[w] \in 0..J
  /\ {iposted, irun, irefused, idropped, lposted, lrun, lcancelled, ldropped} \subseteq Nat

\* The future's result is published at most once, and the future is done iff published.
PublishedAtMostOnce ==
  \A t \in Tasks : pubs[t] <= 1 /\ ((pubs[t] = 1) = (fut[t] \in {"value", "cancelled"}))

\* A job runs at most once, and not if a cancel() won; at most one cancel() wins.
JobRunsOnceNotIfCancelled ==
  \A t \in Tasks : runs[t] <= 1 /\ cwon[t] <= 1 /\ ~(runs[t] = 1 /\ cwon[t] = 1)

\* A value only from a job that returned; CancelledError only from a won cancel.
FutureOutcomeRight ==
  \A t \in Tasks : /\ fut[t] = "value" => jrun[t] = "returned"
                   /\ fut[t] = "cancelled" => cwon[t] = 1

\* Each wake (a resumption carrying suspension number n) resumes the task at most once.
ResumedAtMostOncePerSuspension ==
  \A t \in Tasks : rcount[t][1] <= 1 /\ rcount[t][2] <= 1

\* await_resume never reads a pending future (a detached task's get() on the loop thread
\* would throw InvalidStateError, a normal task's take() would read no result).
TakeOnlyWhenDone == ~badTake

\* The frame rule: a normal task gets past the job's await only after the job returned
\* and its future completed.
FrameRule ==
  \A t \in Tasks : (Kind[t] = "normal" /\ past1[t]) => (jrun[t] # "running" /\ fut[t] # "pending")

\* The frame rule at close(): a normal task's frame is not destroyed (abandoned) while its
\* job runs or may still run. Fails with BUG "closeframe" (JobHandoffCloseFrame.cfg): the
\* finding of this spec, fixed in loop/thread_future.hpp (on_abandon); see README.md.
FrameOutlivesJob ==
  \A t \in Tasks : (Kind[t] = "normal" /\ tpc[t] = "abandoned") => (js[t] \in {"none", "cancelled"} \/ jrun[t] = "returned")

\* Nothing runs on the loop after close(): nothing is left queued or armed that could run,
\* every task has ended, and later posts are refused (not queued).
NothingRunsAfterClose ==
  Closed => (inbox = <<>> /\ ready = <<>> /\ Armed = {} /\ \A t \in Tasks : Final(t))

AbandonedOnlyByClose == \A t \in Tasks : tpc[t] = "abandoned" => Closed

\* The loop's ledgers (posts are single steps here: every post is counted and resolved).
InboxLedger == iposted = irun + irefused + idropped + Len(inbox)
LocalLedger == lposted = lrun + lcancelled + ldropped + Len(ready) + Cardinality(Armed)
ClosedLedgerBalanced ==
  Closed => (iposted = irun + irefused + idropped /\ lposted = lrun + lcancelled + ldropped)

-----------------------------------------------------------------------------
\* LIVENESS (weak fairness of the loop thread and of every worker, Spec). <>P over
\* stable P (README: no ~>).
JobFinal(j) ==
  /\ j \notin queue
  /\ \/ jrun[j] = "returned"
     \/ (js[j] = "cancelled" /\ \A w \in Workers : wj[w] # j)
     \/ (js[j] = "none" /\ Final(j))
EveryJobEnds          == \A j \in Tasks : <>(JobFinal(j))
EveryTaskEnds         == \A t \in Tasks : <>(Final(t))
EveryFutureCompletes  == \A j \in Tasks : <>(fut[j] \in {"value", "cancelled"} \/ (js[j] = "none" /\ Final(j)))
EndsQuiet             == <>(AllDone)
=============================================================================
