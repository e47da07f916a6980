----------------------------- MODULE LoopClose -----------------------------
\* stop()/close() of the event loop against concurrent posts: loop/event_loop.hpp
\* (LoopCore::post, LoopCore::request_stop, EventLoop::run_forever / run_once / close)
\* and loop/thread_future.hpp (run_coroutine_threadsafe: the start callback's drop hook,
\* the task's done callback and its drop hook), action by action.
\*
\* What it proves (BUG = "none"): whatever the interleaving of posts, stop() and close(),
\*  * every post is exactly one of run / refused / dropped (per item, not only in the
\*    counts), the ledger never counts an outcome before the post was counted, and once
\*    the loop is closed and no thread is posting, posted = run + refused + dropped
\*    (cross-thread posts) and posted_local = run_local + dropped_local (the loop's own
\*    call_soon of task steps and done callbacks);
\*  * every ThreadFuture of run_coroutine_threadsafe is completed by exactly one completer
\*    (the done callback, or one of the drop hooks: refused post, start dropped by close(),
\*    done callback dropped by close(), task abandoned by close());
\*  * nothing runs after close();
\*  * under weak fairness every future completes and every get() returns.
\*
\* ACTION <-> CODE (loop/event_loop.hpp line numbers as of this spec; thread_future.hpp)
\*  producer p (N threads, each posts Posts[p]: "cb" = call_soon_threadsafe(fn),
\*             "rct" = run_coroutine_threadsafe(coro, loop), which posts a start callback
\*             owning the future's state st):
\*   count     LoopCore::post L151      posted.add()              (per-thread slot)
\*   push      LoopCore::post L152      inbox push: Pushed, or Closed (one atomic step: the
\*                                      inbox's close() is linearizable, MpscInbox.tla)
\*   refuse    LoopCore::post L153      refused.fetch_add(1)
\*   drophook  LoopCore::post L154-155  cb.drop(): the start callback's drop hook
\*                                      (thread_future.hpp, run_coroutine_threadsafe, last
\*                                      call_soon_threadsafe) does st->set_exception(
\*                                      LoopClosedError); then the post throws
\*   get       ThreadFuture::get()      waits until every future of p is done (futex wait)
\*   (wake_if_sleeping after a push, the WakeGate: verified by LoopWake.tla; here the
\*    loop's sleep is an await on "inbox non-empty or stop_requested")
\*  stopper (another thread):
\*   stop      EventLoop::stop -> LoopCore::request_stop L173  stop_requested.store(1)
\*  loop thread (run_forever L350-353 = run_once until stopping_; then close()):
\*   batch     run_inbox_batch L555-567 try_pop one item and run it (at most Batch per
\*             iteration); a start callback calls create_task: the task is linked and
\*             its first step is call_soon'd (task.hpp schedule_step)
\*   stopcheck run_once L580-584       stop_was_requested (seq_cst load of stop_requested,
\*             consumed into stopping_), more_now
\*   sleep     run_once L595-596       sleep_until_work: enabled once the inbox is non-empty
\*             or stop_requested is set (the WakeGate's re-check, LoopWake.tla)
\*   ready     run_once L606-617       run the ready callbacks that were ready when the
\*             phase began: a task step (TaskBase::step; the last one completes the task,
\*             whose finish() call_soon's its done callbacks), or the done callback that
\*             run_coroutine_threadsafe added (st->set_value)
\*   (end of the iteration: run_forever L352 breaks if stopping_; ~Running resets it)
\*   close_inbox   close() L370-371    closed_ = true; core_->close_inbox()
\*   close_drain   close() L372-383    try_pop until Closed, each Item dropped: dropped_++,
\*                                     drop hook (a start callback: st completes with
\*                                     LoopClosedError)
\*   close_ready   close() L384-395    the ready queue dropped, each counted dropped
\*                                     (local); a task's done callback's drop hook
\*                                     completes st with LoopClosedError
\*   close_abandon close() L405-409    abandon_tasks (task.hpp abandon_all): every task not
\*                                     done completes with LoopClosedError; finish() on a
\*                                     closed loop drops its done callbacks directly (no
\*                                     counter), so the drop hook completes st
\*
\* ABSTRACTIONS (read before trusting a green run)
\*  * Sequentially consistent memory; push and the inbox's close() are atomic w.r.t. each
\*    other (MpscInbox.tla proves the inbox linearizable); try_pop's Retry cannot happen.
\*  * The sleep/wake handshake is an await (LoopWake.tla proves no lost wakeup); timers,
\*    fds, cancel() of futures, stop() from the loop thread, and the exception paths are
\*    not modelled. A task step yields with call_soon (every task has TaskSteps steps).
\*  * The loop's close phases are loop-private: each drop is one step, abandon_tasks is
\*    one step. The futures' claim/publish protocol is one step per completion attempt
\*    (a completer that loses the claim is counted as an attempt: there must be none).
\*
\* BUG (seeded, separate cfgs):
\*  "checkthenpush": the producer reads an is_closed flag and, if open, pushes into a queue
\*     that has no close of its own; close() sets the flag and drains once. A post that
\*     passed the check before the flag and pushes after the drain is stranded.
\*  "countafter": posted.add() after the push: the loop can run (count) an item that is not
\*     counted as posted yet.
\*
\* Single module on purpose (tla-checker ignores EXTENDS of user modules).

EXTENDS Naturals, Sequences, FiniteSets

CONSTANTS
  Posts,     \* Posts[p]: the kinds producer p posts, in order: "cb" or "rct"
  TaskSteps, \* steps of every task created by run_coroutine_threadsafe (>= 1)
  Batch,     \* Options::inbox_batch
  BUG        \* "none" = the code as written; "checkthenpush"; "countafter"; "losedone"

NP == Len(Posts)
Producers == 1..NP
ASSUME /\ NP \in 1..3 /\ \A p \in Producers : Len(Posts[p]) \in 1..3
       /\ \A p \in Producers : \A i \in 1..Len(Posts[p]) : Posts[p][i] \in {"cb", "rct"}
       /\ TaskSteps \in 1..3 /\ Batch \in 1..3
       /\ BUG \in {"none", "checkthenpush", "countafter", "losedone"}

ItemId(p, i) == 3 * (p - 1) + i                   \* item i of producer p
Items == UNION {{ItemId(p, i) : i \in 1..Len(Posts[p])} : p \in Producers}
Rct == UNION {{ItemId(p, i) : i \in {j \in 1..Len(Posts[p]) : Posts[p][j] = "rct"}} : p \in Producers}
RctOf(p) == {ItemId(p, i) : i \in {j \in 1..Len(Posts[p]) : Posts[p][j] = "rct"}}

VARIABLES
  inbox,     \* the inbox: FIFO of item ids (BUG checkthenpush: a queue with no close)
  iclosed,   \* the inbox is closed (BUG checkthenpush: the is_closed flag)
  ppc,       \* producer pc
  k,         \* k[p]: the index of the item producer p is posting
  spc,       \* stopper pc
  stopreq,   \* LoopCore::stop_requested
  lpc,       \* loop pc
  bn,        \* callbacks run in this iteration's inbox batch
  todo,      \* ready callbacks still to run in this iteration's ready phase
  stopping,  \* EventLoop::stopping_
  ready,     \* EventLoop::ready_: <<"step", n>> (a step of n's task), <<"done", n>> (its done callback)
  tstep,     \* tstep[n]: steps the task of rct item n has run
  tstate,    \* tstate[n]: "none" | "live" | "done" | "abandoned"
  fut,       \* fut[n]: the ThreadFuture of rct item n: "pending" | "value" | "closed"
  fcompl,    \* fcompl[n]: completion attempts (set_value / set_exception calls) on fut[n]
  pcount,    \* pcount[n]: posted.add() for item n   \* --- the ledger, per item
  runc,      \* runc[n]:   n ran (run_++)
  refc,      \* refc[n]:   n was refused (refused++)
  dropc,     \* dropc[n]:  n was dropped by close() (dropped_++)
  lposted,   \* the loop's own call_soon posts (posted_local_)
  lrun,      \* of those, run
  ldropped,  \* of those, dropped by close()
  lateRun    \* ghost: something ran after close() began

vars == <<inbox, iclosed, ppc, k, spc, stopreq, lpc, bn, todo, stopping, ready,
          tstep, tstate, fut, fcompl, pcount, runc, refc, dropc, lposted, lrun, ldropped, lateRun>>

Cur(p) == ItemId(p, k[p])
IsRct(n) == n \in Rct

Init ==
  /\ inbox = <<>>
  /\ iclosed = FALSE
  /\ ppc = [p \in Producers |-> IF BUG = "countafter" THEN "push" ELSE "count"]
  /\ k = [p \in Producers |-> 1]
  /\ spc = "stop"
  /\ stopreq = 0
  /\ lpc = "batch"
  /\ bn = 0
  /\ todo = 0
  /\ stopping = FALSE
  /\ ready = <<>>
  /\ tstep = [n \in Rct |-> 0]
  /\ tstate = [n \in Rct |-> "none"]
  /\ fut = [n \in Rct |-> "pending"]
  /\ fcompl = [n \in Rct |-> 0]
  /\ pcount = [n \in Items |-> 0]
  /\ runc = [n \in Items |-> 0]
  /\ refc = [n \in Items |-> 0]
  /\ dropc = [n \in Items |-> 0]
  /\ lposted = 0
  /\ lrun = 0
  /\ ldropped = 0
  /\ lateRun = FALSE

\* A completion attempt on st (claim(): only the first one wins).
Complete(n, v) ==
  /\ fut' = [fut EXCEPT ![n] = IF @ = "pending" THEN v ELSE @]
  /\ fcompl' = [fcompl EXCEPT ![n] = @ + 1]

-----------------------------------------------------------------------------
\* Producer p: LoopCore::post (through call_soon_threadsafe or run_coroutine_threadsafe).

\* The post returned (or threw): the next item, or get() on the futures.
NextItem(p) ==
  /\ k' = [k EXCEPT ![p] = IF @ < Len(Posts[p]) THEN @ + 1 ELSE @]
  /\ ppc' = [ppc EXCEPT ![p] =
               IF k[p] < Len(Posts[p]) THEN (IF BUG = "countafter" THEN "push" ELSE "count")
               ELSE "get"]

\* posted.add()   (BUG countafter: after the push; the result decides what follows)
Count(p) ==
  /\ pcount' = [pcount EXCEPT ![Cur(p)] = @ + 1]
  /\ CASE ppc[p] = "count"          -> /\ ppc' = [ppc EXCEPT ![p] = IF BUG = "checkthenpush"
                                                                   THEN "check" ELSE "push"]
                                       /\ UNCHANGED k
       [] ppc[p] = "count_refused"  -> /\ ppc' = [ppc EXCEPT ![p] = "refuse"]
                                       /\ UNCHANGED k
       [] ppc[p] = "count_pushed"   -> NextItem(p)
  /\ UNCHANGED <<inbox, iclosed, spc, stopreq, lpc, bn, todo, stopping, ready,
                 tstep, tstate, fut, fcompl, runc, refc, dropc, lposted, lrun, ldropped, lateRun>>

\* push(std::move(cb)) != Pushed ?   (atomic w.r.t. close(): MpscInbox.tla)
Push(p) ==
  /\ IF iclosed
       THEN /\ ppc' = [ppc EXCEPT ![p] = IF BUG = "countafter" THEN "count_refused" ELSE "refuse"]
            /\ UNCHANGED <<inbox, k>>
       ELSE /\ inbox' = Append(inbox, Cur(p))
            /\ IF BUG = "countafter"
                 THEN /\ ppc' = [ppc EXCEPT ![p] = "count_pushed"]
                      /\ UNCHANGED k
                 ELSE NextItem(p)
  /\ UNCHANGED <<iclosed, spc, stopreq, lpc, bn, todo, stopping, ready,
                 tstep, tstate, fut, fcompl, pcount, runc, refc, dropc, lposted, lrun, ldropped, lateRun>>

\* BUG checkthenpush: if (is_closed) refuse; (then, later) push into a queue with no close.
Check(p) ==
  /\ ppc' = [ppc EXCEPT ![p] = IF iclosed THEN "refuse" ELSE "push_raw"]
  /\ UNCHANGED <<inbox, iclosed, k, spc, stopreq, lpc, bn, todo, stopping, ready,
                 tstep, tstate, fut, fcompl, pcount, runc, refc, dropc, lposted, lrun, ldropped, lateRun>>

PushRaw(p) ==
  /\ inbox' = Append(inbox, Cur(p))
  /\ NextItem(p)
  /\ UNCHANGED <<iclosed, spc, stopreq, lpc, bn, todo, stopping, ready,
                 tstep, tstate, fut, fcompl, pcount, runc, refc, dropc, lposted, lrun, ldropped, lateRun>>

\* refused.fetch_add(1)
Refuse(p) ==
  /\ refc' = [refc EXCEPT ![Cur(p)] = @ + 1]
  /\ ppc' = [ppc EXCEPT ![p] = "drophook"]
  /\ UNCHANGED <<inbox, iclosed, k, spc, stopreq, lpc, bn, todo, stopping, ready,
                 tstep, tstate, fut, fcompl, pcount, runc, dropc, lposted, lrun, ldropped, lateRun>>

\* cb.drop(): a start callback's drop hook completes st with LoopClosedError; throw.
DropHook(p) ==
  /\ IF IsRct(Cur(p)) THEN Complete(Cur(p), "closed") ELSE UNCHANGED <<fut, fcompl>>
  /\ NextItem(p)
  /\ UNCHANGED <<inbox, iclosed, spc, stopreq, lpc, bn, todo, stopping, ready,
                 tstep, tstate, pcount, runc, refc, dropc, lposted, lrun, ldropped, lateRun>>

\* ThreadFuture::get() on each of p's futures: returns once it is done.
Get(p) ==
  /\ \A n \in RctOf(p) : fut[n] # "pending"
  /\ ppc' = [ppc EXCEPT ![p] = "done"]
  /\ UNCHANGED <<inbox, iclosed, k, spc, stopreq, lpc, bn, todo, stopping, ready,
                 tstep, tstate, fut, fcompl, pcount, runc, refc, dropc, lposted, lrun, ldropped, lateRun>>

Producer(p) ==
  CASE ppc[p] = "count"         -> Count(p)
    [] ppc[p] = "count_refused" -> Count(p)
    [] ppc[p] = "count_pushed"  -> Count(p)
    [] ppc[p] = "push"          -> Push(p)
    [] ppc[p] = "check"         -> Check(p)
    [] ppc[p] = "push_raw"      -> PushRaw(p)
    [] ppc[p] = "refuse"        -> Refuse(p)
    [] ppc[p] = "drophook"      -> DropHook(p)
    [] ppc[p] = "get"           -> Get(p)
    [] OTHER                    -> FALSE

-----------------------------------------------------------------------------
\* The stopper: EventLoop::stop() from another thread = request_stop().
Stop ==
  /\ spc = "stop"
  /\ stopreq' = 1
  /\ spc' = "done"
  /\ UNCHANGED <<inbox, iclosed, ppc, k, lpc, bn, todo, stopping, ready,
                 tstep, tstate, fut, fcompl, pcount, runc, refc, dropc, lposted, lrun, ldropped, lateRun>>

-----------------------------------------------------------------------------
\* The loop thread.

\* End of run_once: run_forever returns if stopping_ (then ~Running clears it and the
\* owner calls close()), else the next iteration.
EndIter(stp) ==
  /\ lpc' = IF stp THEN "close_inbox" ELSE "batch"
  /\ stopping' = FALSE

\* run_inbox_batch: one try_pop; an Item runs at once (run_callback: run_++). A start
\* callback creates the task: linked, first step call_soon'd.
LBatch ==
  IF inbox # <<>>
    THEN LET n == Head(inbox) IN
         /\ inbox' = Tail(inbox)
         /\ runc' = [runc EXCEPT ![n] = @ + 1]
         /\ lateRun' = (lateRun \/ iclosed)
         /\ IF IsRct(n)
              THEN /\ tstate' = [tstate EXCEPT ![n] = "live"]
                   /\ ready' = Append(ready, <<"step", n>>)
                   /\ lposted' = lposted + 1
              ELSE UNCHANGED <<tstate, ready, lposted>>
         /\ bn' = bn + 1
         /\ lpc' = IF bn + 1 = Batch THEN "stopcheck" ELSE "batch"
         /\ UNCHANGED <<iclosed, ppc, k, spc, stopreq, todo, stopping,
                        tstep, fut, fcompl, pcount, refc, dropc, lrun, ldropped>>
    ELSE /\ lpc' = "stopcheck"     \* try_pop answered Empty
         /\ UNCHANGED <<inbox, iclosed, ppc, k, spc, stopreq, bn, todo, stopping, ready,
                        tstep, tstate, fut, fcompl, pcount, runc, refc, dropc,
                        lposted, lrun, ldropped, lateRun>>

\* stop_was_requested(); more_now = ready non-empty || stopping_ || the batch ended on Item.
\* Nothing now: sleep_until_work. Else the ready phase, todo = ready_.size() now.
LStopCheck ==
  LET stp  == stopping \/ stopreq = 1
      more == ready # <<>> \/ stp \/ bn = Batch IN
  /\ stopreq' = 0
  /\ stopping' = stp
  /\ bn' = 0
  /\ IF more
       THEN /\ lpc' = "ready"
            /\ todo' = Len(ready)
       ELSE /\ lpc' = "sleep"
            /\ UNCHANGED todo
  /\ UNCHANGED <<inbox, iclosed, ppc, k, spc, ready,
                 tstep, tstate, fut, fcompl, pcount, runc, refc, dropc, lposted, lrun, ldropped, lateRun>>

\* sleep_until_work: returns once the inbox is non-empty or stop was requested (the
\* WakeGate's guarantee). The ready queue was empty and only this thread fills it, so the
\* ready phase runs nothing: the iteration ends (stopping_ is false: it was read before).
LSleep ==
  /\ inbox # <<>> \/ stopreq = 1
  /\ EndIter(stopping)
  /\ UNCHANGED <<inbox, iclosed, ppc, k, spc, stopreq, bn, todo, ready,
                 tstep, tstate, fut, fcompl, pcount, runc, refc, dropc, lposted, lrun, ldropped, lateRun>>

\* One ready callback (run_++ of the local ledger): a task step, or a done callback.
LReady ==
  IF todo = 0
    THEN /\ EndIter(stopping)
         /\ UNCHANGED <<inbox, iclosed, ppc, k, spc, stopreq, bn, todo, ready,
                        tstep, tstate, fut, fcompl, pcount, runc, refc, dropc,
                        lposted, lrun, ldropped, lateRun>>
    ELSE LET e == Head(ready)
             n == e[2] IN
         /\ todo' = todo - 1
         /\ lrun' = lrun + 1
         /\ lateRun' = (lateRun \/ iclosed)
         /\ IF e[1] = "step"
              THEN \* TaskBase::step: one step of the coroutine; the last completes the
                   \* task and finish() call_soon's its done callback; otherwise the task
                   \* yields and its next step is call_soon'd.
                   /\ tstep' = [tstep EXCEPT ![n] = @ + 1]
                   /\ tstate' = IF tstep[n] + 1 = TaskSteps
                                  THEN [tstate EXCEPT ![n] = "done"] ELSE tstate
                   /\ ready' = Append(Tail(ready),
                                      IF tstep[n] + 1 = TaskSteps THEN <<"done", n>> ELSE <<"step", n>>)
                   /\ lposted' = lposted + 1
                   /\ UNCHANGED <<fut, fcompl>>
              ELSE \* the done callback: st->set_value(done.result())
                   /\ Complete(n, "value")
                   /\ ready' = Tail(ready)
                   /\ UNCHANGED <<tstep, tstate, lposted>>
         /\ lpc' = "ready"
         /\ UNCHANGED <<inbox, iclosed, ppc, k, spc, stopreq, bn, stopping,
                        pcount, runc, refc, dropc, ldropped>>

\* close(): closed_ = true; core_->close_inbox()   (BUG checkthenpush: sets the flag)
LCloseInbox ==
  /\ iclosed' = TRUE
  /\ lpc' = "close_drain"
  /\ UNCHANGED <<inbox, ppc, k, spc, stopreq, bn, todo, stopping, ready,
                 tstep, tstate, fut, fcompl, pcount, runc, refc, dropc, lposted, lrun, ldropped, lateRun>>

\* try_pop until Closed: each Item dropped (dropped_++; drop hook). With the real inbox,
\* empty after close() is Closed (every accepted push is in it). BUG checkthenpush: the
\* queue has no close; "empty" ends the drain all the same.
LCloseDrain ==
  /\ IF inbox # <<>>
       THEN LET n == Head(inbox) IN
            /\ inbox' = Tail(inbox)
            /\ dropc' = [dropc EXCEPT ![n] = @ + 1]
            /\ IF IsRct(n) THEN Complete(n, "closed") ELSE UNCHANGED <<fut, fcompl>>
            /\ lpc' = "close_drain"
       ELSE /\ lpc' = "close_ready"
            /\ UNCHANGED <<inbox, dropc, fut, fcompl>>
  /\ UNCHANGED <<iclosed, ppc, k, spc, stopreq, bn, todo, stopping, ready,
                 tstep, tstate, pcount, runc, refc, lposted, lrun, ldropped, lateRun>>

\* The ready queue: each entry dropped (dropped_++); a done callback's drop hook
\* completes st: with the task's result if the task had finished (its done callback was
\* still queued), else with LoopClosedError (a task step has no drop hook: the task stays
\* live and is abandoned next). BUG "losedone": the hook as first written, which always
\* reported LoopClosedError and lost a finished task's result.
LCloseReady ==
  /\ IF ready # <<>>
       THEN LET e == Head(ready) IN
            /\ ready' = Tail(ready)
            /\ ldropped' = ldropped + 1
            /\ IF e[1] = "done"
                 THEN Complete(e[2], IF tstate[e[2]] = "done" /\ BUG # "losedone" THEN "value" ELSE "closed")
                 ELSE UNCHANGED <<fut, fcompl>>
            /\ lpc' = "close_ready"
       ELSE /\ lpc' = "close_abandon"
            /\ UNCHANGED <<ready, ldropped, fut, fcompl>>
  /\ UNCHANGED <<inbox, iclosed, ppc, k, spc, stopreq, bn, todo, stopping,
                 tstep, tstate, pcount, runc, refc, dropc, lposted, lrun, lateRun>>

\* abandon_tasks(): every live task completes with LoopClosedError; finish() finds the
\* loop closed and drops its done callback at once (no counter): st completes.
LCloseAbandon ==
  /\ tstate' = [n \in Rct |-> IF tstate[n] = "live" THEN "abandoned" ELSE tstate[n]]
  /\ fut' = [n \in Rct |-> IF tstate[n] = "live" /\ fut[n] = "pending" THEN "closed" ELSE fut[n]]
  /\ fcompl' = [n \in Rct |-> IF tstate[n] = "live" THEN fcompl[n] + 1 ELSE fcompl[n]]
  /\ lpc' = "closed"
  /\ UNCHANGED <<inbox, iclosed, ppc, k, spc, stopreq, bn, todo, stopping, ready,
                 tstep, pcount, runc, refc, dropc, lposted, lrun, ldropped, lateRun>>

Loop ==
  CASE lpc = "batch"         -> LBatch
    [] lpc = "stopcheck"     -> LStopCheck
    [] lpc = "sleep"         -> LSleep
    [] lpc = "ready"         -> LReady
    [] lpc = "close_inbox"   -> LCloseInbox
    [] lpc = "close_drain"   -> LCloseDrain
    [] lpc = "close_ready"   -> LCloseReady
    [] lpc = "close_abandon" -> LCloseAbandon
    [] OTHER                 -> FALSE

-----------------------------------------------------------------------------
\* Every post made (each producer posting is over: it is in get() or done), stop() made,
\* the loop closed: the ledger must balance here.
Quiescent == lpc = "closed" /\ spc = "done" /\ \A p \in Producers : ppc[p] \in {"get", "done"}

AllDone == lpc = "closed" /\ spc = "done" /\ \A p \in Producers : ppc[p] = "done"
Terminating == AllDone /\ UNCHANGED vars

Next == (\E p \in Producers : Producer(p)) \/ Stop \/ Loop \/ Terminating

Spec == Init /\ [][Next]_vars /\ (\A p \in Producers : WF_vars(Producer(p)))
                              /\ WF_vars(Stop) /\ WF_vars(Loop)

-----------------------------------------------------------------------------
\* INVARIANTS

PLabels == {"count", "count_refused", "count_pushed", "push", "check", "push_raw",
            "refuse", "drophook", "get", "done"}
LLabels == {"batch", "stopcheck", "sleep", "ready", "close_inbox", "close_drain",
            "close_ready", "close_abandon", "closed"}

TypeOK ==
  /\ \A i \in 1..Len(inbox) : inbox[i] \in Items
  /\ iclosed \in BOOLEAN
  /\ \A p \in Producers : ppc[p] \in PLabels /\ k[p] \in 1..Len(Posts[p])
  /\ spc \in {"stop", "done"} /\ stopreq \in {0, 1}
  /\ lpc \in LLabels /\ bn \in 0..Batch /\ todo \in Nat /\ stopping \in BOOLEAN
  /\ \A i \in 1..Len(ready) : ready[i][1] \in {"step", "done"} /\ ready[i][2] \in Rct
  /\ \A n \in Rct : /\ tstep[n] \in 0..TaskSteps
                    /\ tstate[n] \in {"none", "live", "done", "abandoned"}
                    /\ fut[n] \in {"pending", "value", "closed"}
                    /\ fcompl[n] \in Nat
  /\ \A n \in Items : {pcount[n], runc[n], refc[n], dropc[n]} \subseteq Nat
  /\ {lposted, lrun, ldropped} \subseteq Nat
  /\ lateRun \in BOOLEAN

Outcomes(n) == runc[n] + refc[n] + dropc[n]

\* The ledger never over-counts: per item, at most one outcome, and only once the post
\* was counted (so run + refused + dropped <= posted at every instant).
LedgerNeverOverCounts ==
  \A n \in Items : (pcount[n] <= 1 /\ Outcomes(n) <= pcount[n])

Posted  == Cardinality({n \in Items : pcount[n] = 1})
Run     == Cardinality({n \in Items : runc[n] = 1})
Refused == Cardinality({n \in Items : refc[n] = 1})
Dropped == Cardinality({n \in Items : dropc[n] = 1})

\* The loop's own call_soon ledger: posted_local = run + dropped + still queued.
LocalLedger == lposted = lrun + ldropped + Len(ready)

\* Loop closed and nobody posting: every post is exactly one of run/refused/dropped, and
\* posted = run + refused + dropped (both ledgers; LoopStats::balanced()).
ClosedLedgerBalanced ==
  Quiescent =>
    /\ \A n \in Items : (pcount[n] = 1 /\ Outcomes(n) = 1)
    /\ Posted = Run + Refused + Dropped
    /\ lposted = lrun + ldropped

\* Every owned future has exactly one completer, and is complete once the loop is closed
\* and nobody posts (a get() then returns at once).
FutureCompletedOnce ==
  \A n \in Rct : /\ fcompl[n] <= 1
                 /\ (fcompl[n] = 1) = (fut[n] # "pending")
FuturesCompleteAtClose ==
  Quiescent => \A n \in Rct : fut[n] # "pending"

\* A future holds a value only if its task ran to completion; LoopClosedError only if
\* the start was refused or dropped, or the task did not finish or its done callback was
\* dropped.
FutureOutcomeRight ==
  \A n \in Rct :
     /\ fut[n] = "value" => (runc[n] = 1 /\ tstate[n] = "done")
     /\ fut[n] = "closed" => (refc[n] = 1 \/ dropc[n] = 1 \/ tstate[n] \in {"abandoned", "done"})

\* Nothing runs after close() began (inbox callbacks or ready callbacks).
NoRunAfterClose == ~lateRun

\* A task that finished delivers its result, even if close() dropped its queued done
\* callback. Fails with BUG = "losedone" (LoopCloseResultLost.cfg): the defect this spec
\* found in thread_future.hpp, fixed there; see README.
CompletedTaskDelivers == \A n \in Rct : fut[n] = "closed" => tstate[n] # "done"

-----------------------------------------------------------------------------
\* LIVENESS (weak fairness of every thread, Spec). <>P over stable P (README: no ~>).
EveryFutureCompletes == \A n \in Rct : <>(fut[n] # "pending")
EveryPostResolved    == \A n \in Items : <>(Outcomes(n) = 1)
EveryGetReturns      == <>(\A p \in Producers : ppc[p] = "done")
=============================================================================
