------------------------------ MODULE ThreadPool ------------------------------
\* The combined protocol of executor/thread_pool_executor.hpp (ThreadPoolExecutor): the
\* worker loop (own deque, steal, injection queue, spin, parking on the event count of
\* primitives/event_count.hpp: prepare -> re-check -> commit/cancel), submit's wake decision
\* (spinners, idle tokens, lazy thread growth), keep-alive retirement, thread-creation
\* failure, and shutdown(wait, cancel_futures). Action by action; the event count is in
\* the model (its own protocol is Parking.tla's, re-checked here as part of the pool).
\*
\* Threads: workers 1..MW (a worker's identity is its slot: a slot holds at most one thread
\* at a time, and a retired slot's next thread starts at the top of worker_main), external
\* submitters MW+1..MW+S (submitter i submits the jobs Ext[i] in order), and one thread SD
\* that calls shutdown(Wait, Cancel) at a moment of its choosing (Shutdown = TRUE). A job j
\* with ChildOf[j] # 0 submits that child job from inside (into its worker's deque) and
\* then returns.
\*
\* ACTION <-> CODE (executor/thread_pool_executor.hpp as reviewed; W = worker, T = any
\* thread running enqueue/after_push, D = the shutdown thread)
\*  find_job(s) (W; returns to fret[w]):
\*   f_own      s.deque.pop()                        own deque, LIFO (one linearizable step)
\*   f_steal    victim.deque.steal(out)              FIFO from any non-empty other slot
\*   f_hint     pop_injected: injection_size_.load() <= 0 -> none
\*   f_inj      pop_injected_exact: try_pop under the queue's lock, injection_size_.fetch_sub
\*  worker_main (W):
\*   mint       idle = true; mint_idle_token()       idle_tokens_.fetch_add(1)
\*   spin_enter spin_for_job: spinning_ CAS n -> n+1 if n < max_spinning_, else no spin
\*   spin_look  the spin loop: is_shutdown() -> stop; else find_job (SpinLooks passes)
\*   spin_exit  spinning_.fetch_sub(1); found -> (BUG "nobaton": the old baton here) burn
\*   burn       idle = false; take_idle_token()      burn my token if a push left it
\*   bt_check   the baton (3b1a14d): spinning_.load() == 0 && work_visible() -> notify_one
\*   prep       prepare_wait(): waiters_.fetch_add(1); key = epoch_.load()
\*   (re-check) find_job (fret "recheck")
\*   cancel     cancel_wait(): waiters_.fetch_sub(1)
\*   sd_check   is_shutdown()                        shutdown_.load()
\*   sd_cancel  cancel_wait() before leaving
\*   sd_last    pop_injected_exact() (2e4b443): the last look under the queue's lock
\*   commit     wait_for: epoch_ != key -> woken; else futex (compare + enqueue, one step)
\*   sleeping   in the futex: a notifier's wake -> commit; keep_alive timeout -> to_withdraw
\*   withdraw   waiters_.fetch_sub(1) after a wake   -> continue (top)
\*   to_withdraw, to_epoch   wait_for's timeout: waiters_.fetch_sub(1); epoch_ != key -> woken
\*   r_token    retire(): take_idle_token(); none -> stay (continue)
\*   r_dec      retire(): lock; alive_ - 1
\*   (re-check) find_job (fret "retire")
\*   r_decide   retire(): lock; job || spawn_wanted_ || shutdown -> alive_ + 1, stay (run the
\*              job); else the slot is freed and the thread ends
\*   exec       run_job -> Job::execute: try_start CAS QUEUED -> RUNNING, else discard
\*   body       the job runs (may block for long); a child is submitted from here; it returns
\*   exit       break; lock; leave_locked: alive_ - 1, slot freed, the thread ends
\*  enqueue (T):
\*   s_push     injection_.push(job) (under its lock): Closed -> refuse (ExecutorShutdownError)
\*   s_size     injection_size_.fetch_add(1)
\*   is_check   (a job's submit) is_shutdown() -> refuse
\*   is_push    mine->deque.push(job)
\*  after_push (T):
\*   ap_spin    spinning_.load() == 0 -> notify_one
\*   ap_token   take_idle_token() -> done
\*   ap_alive   alive_.load() < max_workers -> spawn()
\*   ap_spawn   spawn(): lock; shutdown_ -> return; spawn_locked(): alive_ >= max -> return;
\*              no free slot -> spawn_wanted_ = true; else occupied, alive_ + 1, std::thread
\*              (which may fail: see SPAWN FAILURE)
\*  notify (T, W, D):
\*   n_load     waiters_.load() == 0 -> return
\*   n_bump     epoch_.fetch_add(1)
\*   n_wake     wake_one (any one futex sleeper, or nobody) / wake_all (D)
\*  shutdown(Wait, Cancel) (D):
\*   sd_start   lock spawn_mu_ (held until sd_drain); then injection_.close()
\*   sd_flag    shutdown_.store(1)
\*   sd_drain   alive_ == 0 && queue not empty -> spawn_locked() (2e4b443); unlock
\*   sd_cq      cancel_queued(): pop the injection queue, then steal each slot, until
\*              empty: Job::cancel (CAS QUEUED -> CANCELLED) and discard
\*   (notify)   parking_.notify_all()
\*   sd_collect if Wait: lock; collect the joinable threads
\*   sd_join    join them (enabled once each has ended)
\*
\* SPAWN FAILURE (issue 10; at most Fails times, std::thread's constructor throws):
\*  BUG "norollback" (the code as reviewed): the exception leaves spawn_locked with the slot
\*    occupied and alive_ counted: no thread runs, later submits see alive_ and start none.
\*  the fix (BUG # "norollback"), as the executor branch implements it (9d46320, 5eba2f1):
\*    the slot and alive_ are committed only once the thread exists (nothing to roll back);
\*    after_push withdraws the submitter's job (CAS QUEUED -> failed: its future gets the
\*    error) and submit throws, unless a worker started the job first (then it runs); a
\*    later submit tries the spawn again. shutdown()'s draining spawn that fails runs
\*    fail_queued(): every job still queued is withdrawn (failed) and discarded.
\*
\* ABSTRACTIONS (read before trusting a green run)
\*  * Sequentially consistent memory (the code is seq_cst on every Dekker pair; Relacy
\*    checks the real orders). Each deque operation is one step (ChaseLevDeque.tla checks the
\*    deque); a steal never answers Retry (Retry only re-runs the scan in the code).
\*  * The steal scan is one step per find_job (any non-empty other slot: the random start).
\*    With MW = 2 there is one victim, so this is exact; with 3 slots a scan that misses a
\*    job pushed into an already-scanned slot is not modelled (that push's own notify covers
\*    it, by the same Dekker argument as the re-check).
\*  * The injection queue's pop and its size decrement are one step (the window in between
\*    only over-estimates the hint: a worker takes the lock and finds nothing). The push and
\*    the increment are two steps: the hint lags a push (the 2e4b443 window).
\*  * prepare_wait()'s fetch_add and epoch load are one step, so are wait's epoch load and
\*    futex compare (Parking.tla has them split); notify's load, bump and wake are three.
\*  * The spin makes SpinLooks find_job passes at most (it may stop earlier: its timeout).
\*    work_visible() and the baton's spinning_ load are one step.
\*  * keep_alive expiry (Timeout) may happen to any sleeping worker, but need not: it is
\*    not fair, so a worker may sleep forever. Spawn failure is a choice of ap_spawn /
\*    sd_drain. Neither fairness nor the statistics counters are modelled; help_while_waiting
\*    (get() inside a job), map(), future.cancel() from a user are not modelled.
\*  * spawn_mu_ sections are one step each, except shutdown's close/flag/drain, which holds
\*    it over three steps (sdlock); every other locked step waits for it.
\*
\* BUG (seeded, separate cfgs):
\*  "none"           the code as reviewed (main at 26af0cb: NOT yet the token/baton changes
\*                   merged with the executor branch, see README.md), with the fix of SPAWN FAILURE and
\*                   with one cancel_wait() on the shutdown path (see "doublecancel")
\*  "doublecancel"   the code as reviewed: when sd_last's pop finds a job, the code falls
\*                   into `if (job != nullptr) parking_.cancel_wait();` a second time
\*  "shutdownstrand" before 2e4b443: the flag before injection_.close(), no draining spawn,
\*                   a leaving worker trusts the size hint
\*  "nobaton"        before 3b1a14d: only a worker that found its job while spinning passes
\*                   the baton (inside spin_for_job); a worker leaving idle otherwise does not
\*  "norollback"     spawn failure as the code is today (see SPAWN FAILURE)
\*
\* Single module on purpose (tla-checker ignores EXTENDS of user modules).

EXTENDS Naturals, Sequences, FiniteSets

CONSTANTS
  MW,         \* max_workers (slots)
  Ext,        \* Ext[i]: the jobs external submitter i submits, in order
  ChildOf,    \* ChildOf[j]: the job that job j submits from inside while it runs (0: none)
  MaxSpin,    \* max_spinning_
  SpinLooks,  \* find_job passes per spin, at most
  KeepAlive,  \* TRUE: a sleeping worker may time out (keep_alive) and retire
  Fails,      \* std::thread may fail this many times, at most
  Shutdown,   \* TRUE: a thread calls shutdown(Wait, Cancel) at some point
  Wait, Cancel,
  BUG         \* "none" | "doublecancel" | "shutdownstrand" | "nobaton" | "norollback"

S == Len(Ext)
NJ == Len(ChildOf)
Jobs == 1..NJ
Slots == 1..MW
Subs == MW + 1 .. MW + S
SD == MW + S + 1
Threads == 1 .. SD

ASSUME /\ MW \in 1..3 /\ S \in 1..3 /\ NJ \in 1..6
       /\ MaxSpin \in 1..3 /\ SpinLooks \in 1..3 /\ Fails \in 0..3
       /\ KeepAlive \in BOOLEAN /\ Shutdown \in BOOLEAN /\ Wait \in BOOLEAN /\ Cancel \in BOOLEAN
       /\ BUG \in {"none", "doublecancel", "shutdownstrand", "nobaton", "norollback"}

VARIABLES
  pc,        \* pc[t]
  fret,      \* fret[w]: where find_job returns: "top" | "spin" | "recheck" | "retire"
  fj,        \* fj[w]: the job find_job returned (0: none)
  nret,      \* nret[t]: where notify returns
  cur,       \* cur[t]: the job being submitted (submitters; a worker's child)
  sidx,      \* sidx[t]: the index in Ext of the submitter's current job
  idle,      \* idle[w]: worker_main's `idle`
  key,       \* key[w]: the Key of w's prepare_wait
  looks,     \* looks[w]: find_job passes left in the current spin
  inj,       \* injection_: FIFO of job ids
  hint,      \* injection_size_
  qclosed,   \* injection_ closed
  dq,        \* dq[s]: slot s's deque (owner pops the end, thieves take the head)
  tokens,    \* idle_tokens_
  spinning,  \* spinning_
  alive,     \* alive_
  waiters,   \* EventCount::waiters_
  epoch,     \* EventCount::epoch_
  sdflag,    \* shutdown_
  wanted,    \* spawn_wanted_
  occ,       \* occ[s]: Slot::occupied
  sdlock,    \* shutdown() holds spawn_mu_
  sdidx,     \* cancel_queued's position: 0 = the injection queue, s = slot s
  joinset,   \* the threads shutdown(true) joins
  fails,     \* spawn failures so far
  jst,       \* jst[j]: "new" | "queued" | "running" | "done" | "cancelled" | "failed" | "refused"
  runs,      \* ghost: runs[j] = times job j started
  late       \* ghost: a submit that began after shutdown() returned was accepted

vars == <<pc, fret, fj, nret, cur, sidx, idle, key, looks, inj, hint, qclosed, dq, tokens,
          spinning, alive, waiters, epoch, sdflag, wanted, occ, sdlock, sdidx, joinset, fails,
          jst, runs, late>>

Final == {"done", "cancelled", "failed", "refused"}
IsWorker(t) == t \in Slots
Min(X) == CHOOSE x \in X : \A y \in X : x <= y

Init ==
  /\ pc = [t \in Threads |-> IF t \in Slots THEN "absent"
                              ELSE IF t \in Subs THEN (IF Len(Ext[t - MW]) > 0 THEN "s_push" ELSE "s_done")
                              ELSE IF Shutdown THEN "sd_start" ELSE "sd_none"]
  /\ fret = [w \in Slots |-> "none"] /\ fj = [w \in Slots |-> 0]
  /\ nret = [t \in Threads |-> "none"]
  /\ cur = [t \in Threads |-> IF t \in Subs /\ Len(Ext[t - MW]) > 0 THEN Ext[t - MW][1] ELSE 0]
  /\ sidx = [t \in Threads |-> 1]
  /\ idle = [w \in Slots |-> FALSE] /\ key = [w \in Slots |-> 0] /\ looks = [w \in Slots |-> 0]
  /\ inj = <<>> /\ hint = 0 /\ qclosed = FALSE /\ dq = [s \in Slots |-> <<>>]
  /\ tokens = 0 /\ spinning = 0 /\ alive = 0 /\ waiters = 0 /\ epoch = 0
  /\ sdflag = 0 /\ wanted = FALSE /\ occ = [s \in Slots |-> FALSE] /\ sdlock = FALSE
  /\ sdidx = 0 /\ joinset = {} /\ fails = 0
  /\ jst = [j \in Jobs |-> "new"] /\ runs = [j \in Jobs |-> 0] /\ late = FALSE

-----------------------------------------------------------------------------
\* Helpers.

SetPc(t, l) == pc' = [pc EXCEPT ![t] = l]
\* Call find_job on worker w, returning to r.
CallFind(w, r) == /\ pc' = [pc EXCEPT ![w] = "f_own"] /\ fret' = [fret EXCEPT ![w] = r]
\* Call notify on thread t, returning to r.
CallNotify(t, r) == /\ pc' = [pc EXCEPT ![t] = "n_load"] /\ nret' = [nret EXCEPT ![t] = r]

\* Where find_job's caller goes on with job j (0: none).
TopFound(w) == IF idle[w] THEN "burn" ELSE "exec"
TopNone(w) == IF idle[w] THEN "spin_enter" ELSE "mint"
AfterTop(w, j) == IF j # 0 THEN TopFound(w) ELSE TopNone(w)
AfterSpin(w, j) == IF j # 0 \/ looks[w] <= 1 THEN "spin_exit" ELSE "spin_more"
AfterRecheck(j) == IF j # 0 THEN "cancel" ELSE "sd_check"
AfterFind(w, j) ==
  IF fret[w] = "top" THEN AfterTop(w, j)
  ELSE IF fret[w] = "spin" THEN AfterSpin(w, j)
  ELSE IF fret[w] = "recheck" THEN AfterRecheck(j)
  ELSE "r_decide"                                    \* "retire"

\* find_job returns j.
FReturn(w, j) == /\ fj' = [fj EXCEPT ![w] = j] /\ SetPc(w, AfterFind(w, j))
                 /\ fret' = [fret EXCEPT ![w] = "none"]

InDeques == UNION {{dq[s][i] : i \in 1..Len(dq[s])} : s \in Slots}
InInj == {inj[i] : i \in 1..Len(inj)}
\* work_visible(): the size hint, or a non-empty deque (empty_hint).
WorkVisible == hint > 0 \/ \E s \in Slots : dq[s] # <<>>

\* Where a thread goes after its after_push (and after a refused submit).
NextSubmit(t) ==
  IF sidx[t] < Len(Ext[t - MW]) THEN "s_push" ELSE "s_done"
JobAt(t, k) == Ext[t - MW][k]
NextCur(t) == IF sidx[t] < Len(Ext[t - MW]) THEN JobAt(t, sidx[t] + 1) ELSE 0
\* The end of after_push / of a refused submit: a worker goes back to its job's body; a
\* submitter to its next job (expression-level IFs only: see the note in README.md).
ApDone(t) ==
  /\ SetPc(t, IF IsWorker(t) THEN "body" ELSE NextSubmit(t))
  /\ sidx' = IF IsWorker(t) THEN sidx ELSE [sidx EXCEPT ![t] = sidx[t] + 1]
  /\ cur' = [cur EXCEPT ![t] = IF IsWorker(t) THEN 0 ELSE NextCur(t)]

\* A thread's locked one-step section waits while shutdown() holds spawn_mu_.
Unlocked == ~sdlock

-----------------------------------------------------------------------------
\* find_job (worker w).

FOwn(w) ==
  LET has == dq[w] # <<>> IN
  /\ dq' = IF has THEN [dq EXCEPT ![w] = SubSeq(dq[w], 1, Len(dq[w]) - 1)] ELSE dq
  /\ fj' = IF has THEN [fj EXCEPT ![w] = dq[w][Len(dq[w])]] ELSE fj
  /\ pc' = [pc EXCEPT ![w] = IF has THEN AfterFind(w, dq[w][Len(dq[w])])
                             ELSE IF MW > 1 THEN "f_steal" ELSE "f_hint"]
  /\ fret' = IF has THEN [fret EXCEPT ![w] = "none"] ELSE fret
  /\ UNCHANGED <<inj, hint>>

Victims(w) == {v \in Slots \ {w} : dq[v] # <<>>}
FSteal(w) ==
  \/ /\ Victims(w) = {}
     /\ SetPc(w, "f_hint") /\ UNCHANGED <<dq, fj, inj, hint, fret>>
  \/ \E v \in Victims(w) :
       /\ dq' = [dq EXCEPT ![v] = Tail(dq[v])]
       /\ fj' = [fj EXCEPT ![w] = Head(dq[v])]
       /\ pc' = [pc EXCEPT ![w] = AfterFind(w, Head(dq[v]))]
       /\ fret' = [fret EXCEPT ![w] = "none"]
       /\ UNCHANGED <<inj, hint>>

FHint(w) ==
  /\ pc' = [pc EXCEPT ![w] = IF hint > 0 THEN "f_inj" ELSE AfterFind(w, 0)]
  /\ fj' = IF hint > 0 THEN fj ELSE [fj EXCEPT ![w] = 0]
  /\ fret' = IF hint > 0 THEN fret ELSE [fret EXCEPT ![w] = "none"]
  /\ UNCHANGED <<dq, inj, hint>>

\* pop_injected_exact: try_pop under the queue's lock, then the hint's decrement (one step).
PopExact(w) ==
  /\ inj' = IF inj # <<>> THEN Tail(inj) ELSE inj
  /\ hint' = IF inj # <<>> THEN hint - 1 ELSE hint
  /\ fj' = [fj EXCEPT ![w] = IF inj # <<>> THEN Head(inj) ELSE 0]

FInj(w) ==
  /\ PopExact(w)
  /\ SetPc(w, AfterFind(w, IF inj # <<>> THEN Head(inj) ELSE 0))
  /\ fret' = [fret EXCEPT ![w] = "none"]
  /\ UNCHANGED dq

FindVars == <<nret, cur, sidx, idle, key, looks, qclosed, tokens, spinning, alive, waiters,
              epoch, sdflag, wanted, occ, sdlock, sdidx, joinset, fails, jst, runs, late>>

-----------------------------------------------------------------------------
\* worker_main (worker w). Each action lists what it leaves unchanged.

Mint(w) ==
  /\ idle' = [idle EXCEPT ![w] = TRUE] /\ tokens' = tokens + 1 /\ SetPc(w, "spin_enter")
  /\ UNCHANGED <<fret, fj, nret, cur, sidx, key, looks, inj, hint, qclosed, dq, spinning, alive,
                 waiters, epoch, sdflag, wanted, occ, sdlock, sdidx, joinset, fails, jst, runs, late>>

SpinEnter(w) ==
  /\ spinning' = IF spinning < MaxSpin THEN spinning + 1 ELSE spinning
  /\ looks' = IF spinning < MaxSpin THEN [looks EXCEPT ![w] = SpinLooks] ELSE looks
  /\ SetPc(w, IF spinning < MaxSpin THEN "spin_look" ELSE "prep")
  /\ UNCHANGED <<fret, fj, nret, cur, sidx, idle, key, inj, hint, qclosed, dq, tokens, alive,
                 waiters, epoch, sdflag, wanted, occ, sdlock, sdidx, joinset, fails, jst, runs, late>>

\* The spin loop's condition, then a find_job pass.
SpinLook(w) ==
  /\ SetPc(w, IF sdflag = 1 THEN "spin_exit" ELSE "f_own")
  /\ fj' = IF sdflag = 1 THEN [fj EXCEPT ![w] = 0] ELSE fj
  /\ fret' = IF sdflag = 1 THEN fret ELSE [fret EXCEPT ![w] = "spin"]
  /\ UNCHANGED <<nret, cur, sidx, idle, key, looks, inj, hint, qclosed, dq, tokens, spinning, alive,
                 waiters, epoch, sdflag, wanted, occ, sdlock, sdidx, joinset, fails, jst, runs, late>>

\* Nothing found and passes left: look again, or the spin's time is up.
SpinMore(w) ==
  /\ \/ /\ looks' = [looks EXCEPT ![w] = @ - 1] /\ SetPc(w, "spin_look")
     \/ /\ SetPc(w, "spin_exit") /\ UNCHANGED looks
  /\ UNCHANGED <<fret, fj, nret, cur, sidx, idle, key, inj, hint, qclosed, dq, tokens, spinning,
                 alive, waiters, epoch, sdflag, wanted, occ, sdlock, sdidx, joinset, fails, jst, runs, late>>

\* spinning_.fetch_sub(1); BUG "nobaton": the baton inside spin_for_job, only here.
SpinExit(w) ==
  /\ spinning' = spinning - 1
  /\ SetPc(w, IF fj[w] = 0 THEN "prep" ELSE IF BUG = "nobaton" THEN "obt_check" ELSE "burn")
  /\ UNCHANGED <<fret, fj, nret, cur, sidx, idle, key, looks, inj, hint, qclosed, dq, tokens, alive,
                 waiters, epoch, sdflag, wanted, occ, sdlock, sdidx, joinset, fails, jst, runs, late>>

\* BUG "nobaton": spin_for_job's baton (before 3b1a14d), then worker_main's burn.
OldBatonCheck(w) ==
  LET baton == spinning = 0 /\ WorkVisible IN
  /\ SetPc(w, IF baton THEN "n_load" ELSE "burn")
  /\ nret' = IF baton THEN [nret EXCEPT ![w] = "burn"] ELSE nret
  /\ UNCHANGED <<fret, fj, cur, sidx, idle, key, looks, inj, hint, qclosed, dq, tokens, spinning, alive,
                 waiters, epoch, sdflag, wanted, occ, sdlock, sdidx, joinset, fails, jst, runs, late>>

\* idle = false; take_idle_token(): burn mine if a push left it.
Burn(w) ==
  /\ idle' = [idle EXCEPT ![w] = FALSE]
  /\ tokens' = IF tokens > 0 THEN tokens - 1 ELSE 0
  /\ SetPc(w, IF BUG = "nobaton" THEN "exec" ELSE "bt_check")
  /\ UNCHANGED <<fret, fj, nret, cur, sidx, key, looks, inj, hint, qclosed, dq, spinning, alive,
                 waiters, epoch, sdflag, wanted, occ, sdlock, sdidx, joinset, fails, jst, runs, late>>

\* The baton (3b1a14d): spinning_.load() == 0 && work_visible() -> notify_one.
BatonCheck(w) ==
  LET baton == spinning = 0 /\ WorkVisible IN
  /\ SetPc(w, IF baton THEN "n_load" ELSE "exec")
  /\ nret' = IF baton THEN [nret EXCEPT ![w] = "exec"] ELSE nret
  /\ UNCHANGED <<fret, fj, cur, sidx, idle, key, looks, inj, hint, qclosed, dq, tokens, spinning, alive,
                 waiters, epoch, sdflag, wanted, occ, sdlock, sdidx, joinset, fails, jst, runs, late>>

\* prepare_wait(): waiters_.fetch_add(1), key = epoch_; then the re-check.
Prep(w) ==
  /\ waiters' = waiters + 1 /\ key' = [key EXCEPT ![w] = epoch]
  /\ CallFind(w, "recheck")
  /\ UNCHANGED <<fj, nret, cur, sidx, idle, looks, inj, hint, qclosed, dq, tokens, spinning, alive,
                 epoch, sdflag, wanted, occ, sdlock, sdidx, joinset, fails, jst, runs, late>>

\* cancel_wait() (after the re-check found a job): the job is run, idle is true here.
CancelWait(w) ==
  /\ waiters' = waiters - 1 /\ SetPc(w, "burn") /\ key' = [key EXCEPT ![w] = 0]
  /\ UNCHANGED <<fret, fj, nret, cur, sidx, idle, looks, inj, hint, qclosed, dq, tokens, spinning,
                 alive, epoch, sdflag, wanted, occ, sdlock, sdidx, joinset, fails, jst, runs, late>>

SdCheck(w) ==
  /\ SetPc(w, IF sdflag = 1 THEN "sd_cancel" ELSE "commit")
  /\ UNCHANGED <<fret, fj, nret, cur, sidx, idle, key, looks, inj, hint, qclosed, dq, tokens, spinning,
                 alive, waiters, epoch, sdflag, wanted, occ, sdlock, sdidx, joinset, fails, jst, runs, late>>

SdCancel(w) ==
  /\ waiters' = waiters - 1 /\ key' = [key EXCEPT ![w] = 0]
  /\ SetPc(w, IF BUG = "shutdownstrand" THEN "exit" ELSE "sd_last")
  /\ UNCHANGED <<fret, fj, nret, cur, sidx, idle, looks, inj, hint, qclosed, dq, tokens, spinning,
                 alive, epoch, sdflag, wanted, occ, sdlock, sdidx, joinset, fails, jst, runs, late>>

\* The last look under the queue's lock (2e4b443). A job: the code as reviewed falls into
\* the second cancel_wait() (BUG "doublecancel"); the intended path runs it (burn).
SdLast(w) ==
  /\ PopExact(w)
  /\ SetPc(w, IF inj = <<>> THEN "exit" ELSE IF BUG = "doublecancel" THEN "cancel" ELSE "burn")
  /\ UNCHANGED <<fret, nret, cur, sidx, idle, key, looks, qclosed, dq, tokens, spinning, alive,
                 waiters, epoch, sdflag, wanted, occ, sdlock, sdidx, joinset, fails, jst, runs, late>>

\* wait_for's loop: epoch_ != key -> woken; else the futex (compare + enqueue).
Commit(w) ==
  /\ SetPc(w, IF epoch # key[w] THEN "withdraw" ELSE "sleeping")
  /\ UNCHANGED <<fret, fj, nret, cur, sidx, idle, key, looks, inj, hint, qclosed, dq, tokens, spinning,
                 alive, waiters, epoch, sdflag, wanted, occ, sdlock, sdidx, joinset, fails, jst, runs, late>>

\* Woken: withdraw, continue at the top.
Withdraw(w) ==
  /\ waiters' = waiters - 1 /\ CallFind(w, "top") /\ key' = [key EXCEPT ![w] = 0]
  /\ UNCHANGED <<fj, nret, cur, sidx, idle, looks, inj, hint, qclosed, dq, tokens, spinning,
                 alive, epoch, sdflag, wanted, occ, sdlock, sdidx, joinset, fails, jst, runs, late>>

\* keep_alive expired (not fair: the environment's choice).
Timeout(w) ==
  /\ KeepAlive /\ pc[w] = "sleeping"
  /\ SetPc(w, "to_withdraw")
  /\ UNCHANGED <<fret, fj, nret, cur, sidx, idle, key, looks, inj, hint, qclosed, dq, tokens, spinning,
                 alive, waiters, epoch, sdflag, wanted, occ, sdlock, sdidx, joinset, fails, jst, runs, late>>

ToWithdraw(w) ==
  /\ waiters' = waiters - 1 /\ SetPc(w, "to_epoch")
  /\ UNCHANGED <<fret, fj, nret, cur, sidx, idle, key, looks, inj, hint, qclosed, dq, tokens, spinning,
                 alive, epoch, sdflag, wanted, occ, sdlock, sdidx, joinset, fails, jst, runs, late>>

\* wait_for re-reads the epoch after withdrawing: a notify that raced the timeout is "woken".
ToEpoch(w) ==
  /\ SetPc(w, IF epoch # key[w] THEN "f_own" ELSE "r_token")
  /\ fret' = IF epoch # key[w] THEN [fret EXCEPT ![w] = "top"] ELSE fret
  /\ key' = [key EXCEPT ![w] = 0]
  /\ UNCHANGED <<fj, nret, cur, sidx, idle, looks, inj, hint, qclosed, dq, tokens, spinning,
                 alive, waiters, epoch, sdflag, wanted, occ, sdlock, sdidx, joinset, fails, jst, runs, late>>

\* retire(): take_idle_token(); none -> a push counts on us: stay (continue).
RToken(w) ==
  /\ tokens' = IF tokens > 0 THEN tokens - 1 ELSE tokens
  /\ idle' = IF tokens > 0 THEN [idle EXCEPT ![w] = FALSE] ELSE idle
  /\ SetPc(w, IF tokens > 0 THEN "r_dec" ELSE "f_own")
  /\ fret' = IF tokens > 0 THEN fret ELSE [fret EXCEPT ![w] = "top"]
  /\ UNCHANGED <<fj, nret, cur, sidx, key, looks, inj, hint, qclosed, dq, spinning, alive,
                 waiters, epoch, sdflag, wanted, occ, sdlock, sdidx, joinset, fails, jst, runs, late>>

RDec(w) ==
  /\ Unlocked
  /\ alive' = alive - 1 /\ CallFind(w, "retire")
  /\ UNCHANGED <<fj, nret, cur, sidx, idle, key, looks, inj, hint, qclosed, dq, tokens, spinning,
                 waiters, epoch, sdflag, wanted, occ, sdlock, sdidx, joinset, fails, jst, runs, late>>

\* retire(): lock; a job, spawn_wanted_ or shutdown -> stay (alive_ + 1, run the job); else
\* the slot is freed and the thread ends.
RDecide(w) ==
  LET stay == fj[w] # 0 \/ wanted \/ sdflag = 1 IN
  /\ Unlocked
  /\ wanted' = IF stay THEN FALSE ELSE wanted
  /\ alive' = IF stay THEN alive + 1 ELSE alive
  /\ occ' = IF stay THEN occ ELSE [occ EXCEPT ![w] = FALSE]
  /\ SetPc(w, IF ~stay THEN "absent" ELSE IF fj[w] # 0 THEN "exec" ELSE "f_own")
  /\ fret' = IF stay /\ fj[w] = 0 THEN [fret EXCEPT ![w] = "top"] ELSE fret
  /\ UNCHANGED <<fj, nret, cur, sidx, idle, key, looks, inj, hint, qclosed, dq, tokens, spinning,
                 waiters, epoch, sdflag, sdlock, sdidx, joinset, fails, jst, runs, late>>

\* Job::execute: try_start's CAS QUEUED -> RUNNING, else the entry is discarded.
ExecRest == <<nret, cur, sidx, idle, key, looks, inj, hint, qclosed, dq, tokens, spinning,
              alive, waiters, epoch, sdflag, wanted, occ, sdlock, sdidx, joinset, fails, late>>
ExecRun(w) ==
  /\ jst[fj[w]] = "queued"
  /\ jst' = [jst EXCEPT ![fj[w]] = "running"]
  /\ runs' = [runs EXCEPT ![fj[w]] = 1 + runs[fj[w]]]
  /\ SetPc(w, "body") /\ UNCHANGED fret /\ UNCHANGED fj /\ UNCHANGED ExecRest
ExecDiscard(w) ==
  /\ jst[fj[w]] # "queued"
  /\ UNCHANGED jst /\ UNCHANGED runs /\ CallFind(w, "top")
  /\ fj' = [fj EXCEPT ![w] = 0] /\ UNCHANGED ExecRest
Exec(w) == ExecRun(w) \/ ExecDiscard(w)

\* The job runs: it submits its child (if any, once), then returns.
Kid(w) == ChildOf[fj[w]]
BodyVars == <<nret, sidx, idle, key, looks, inj, hint, qclosed, dq, tokens, spinning,
              alive, waiters, epoch, sdflag, wanted, occ, sdlock, sdidx, joinset, fails, runs, late>>
BodySubmit(w) ==
  /\ Kid(w) # 0 /\ jst[Kid(w)] = "new"
  /\ cur' = [cur EXCEPT ![w] = Kid(w)] /\ SetPc(w, "is_check")
  /\ UNCHANGED jst /\ UNCHANGED fret /\ UNCHANGED fj /\ UNCHANGED BodyVars
BodyReturn(w) ==
  /\ ~(Kid(w) # 0 /\ jst[Kid(w)] = "new")
  /\ jst' = [jst EXCEPT ![fj[w]] = "done"] /\ CallFind(w, "top")
  /\ fj' = [fj EXCEPT ![w] = 0] /\ UNCHANGED cur /\ UNCHANGED BodyVars
Body(w) == BodySubmit(w) \/ BodyReturn(w)

\* enqueue from a job: is_shutdown() -> refuse (the child's future gets the error).
IsCheck(w) ==
  /\ jst' = IF sdflag = 1 THEN [jst EXCEPT ![cur[w]] = "refused"] ELSE jst
  /\ SetPc(w, IF sdflag = 1 THEN "body" ELSE "is_push")
  /\ cur' = IF sdflag = 1 THEN [cur EXCEPT ![w] = 0] ELSE cur
  /\ UNCHANGED <<fret, fj, nret, sidx, idle, key, looks, inj, hint, qclosed, dq, tokens, spinning,
                 alive, waiters, epoch, sdflag, wanted, occ, sdlock, sdidx, joinset, fails, runs, late>>

IsPush(w) ==
  /\ dq' = [dq EXCEPT ![w] = Append(@, cur[w])]
  /\ jst' = [jst EXCEPT ![cur[w]] = "queued"]
  /\ SetPc(w, "ap_spin")
  /\ UNCHANGED <<fret, fj, nret, cur, sidx, idle, key, looks, inj, hint, qclosed, tokens, spinning,
                 alive, waiters, epoch, sdflag, wanted, occ, sdlock, sdidx, joinset, fails, runs, late>>

\* break; lock; leave_locked().
Exit(w) ==
  /\ Unlocked
  /\ alive' = alive - 1 /\ occ' = [occ EXCEPT ![w] = FALSE] /\ SetPc(w, "absent")
  /\ UNCHANGED <<fret, fj, nret, cur, sidx, idle, key, looks, inj, hint, qclosed, dq, tokens, spinning,
                 waiters, epoch, sdflag, wanted, sdlock, sdidx, joinset, fails, jst, runs, late>>

-----------------------------------------------------------------------------
\* enqueue from outside (submitter t).

SPushVars == <<fret, fj, nret, idle, key, looks, hint, qclosed, dq, tokens, spinning, alive,
               waiters, epoch, sdflag, wanted, occ, sdlock, sdidx, joinset, fails, runs>>
\* Refused (the queue is closed): the job's future gets ExecutorShutdownError, submit throws.
SPushRefused(t) ==
  /\ qclosed
  /\ jst' = [jst EXCEPT ![cur[t]] = "refused"]
  /\ SetPc(t, NextSubmit(t))
  /\ sidx' = [sidx EXCEPT ![t] = @ + 1]
  /\ cur' = [cur EXCEPT ![t] = NextCur(t)]
  /\ UNCHANGED <<inj, late>> /\ UNCHANGED SPushVars
SPushAccepted(t) ==
  /\ ~qclosed
  /\ inj' = Append(inj, cur[t]) /\ jst' = [jst EXCEPT ![cur[t]] = "queued"]
  /\ late' = (late \/ pc[SD] = "sd_done")
  /\ SetPc(t, "s_size") /\ UNCHANGED <<sidx, cur>> /\ UNCHANGED SPushVars
SPush(t) == SPushRefused(t) \/ SPushAccepted(t)

SSize(t) ==
  /\ hint' = hint + 1 /\ SetPc(t, "ap_spin")
  /\ UNCHANGED <<fret, fj, nret, cur, sidx, idle, key, looks, inj, qclosed, dq, tokens, spinning,
                 alive, waiters, epoch, sdflag, wanted, occ, sdlock, sdidx, joinset, fails, jst, runs, late>>

-----------------------------------------------------------------------------
\* after_push (thread t: a submitter, or a worker submitting a child).

ApSpin(t) ==
  /\ SetPc(t, IF spinning = 0 THEN "n_load" ELSE "ap_token")
  /\ nret' = IF spinning = 0 THEN [nret EXCEPT ![t] = "ap_token"] ELSE nret
  /\ UNCHANGED <<fret, fj, cur, sidx, idle, key, looks, inj, hint, qclosed, dq, tokens, spinning,
                 alive, waiters, epoch, sdflag, wanted, occ, sdlock, sdidx, joinset, fails, jst, runs, late>>

ApToken(t) ==
  \/ /\ tokens > 0
     /\ tokens' = tokens - 1 /\ ApDone(t)
     /\ UNCHANGED <<fret, fj, nret, idle, key, looks, inj, hint, qclosed, dq, spinning,
                    alive, waiters, epoch, sdflag, wanted, occ, sdlock, sdidx, joinset, fails, jst, runs, late>>
  \/ /\ tokens = 0
     /\ SetPc(t, "ap_alive")
     /\ UNCHANGED <<tokens, cur, sidx, fret, fj, nret, idle, key, looks, inj, hint, qclosed, dq, spinning,
                    alive, waiters, epoch, sdflag, wanted, occ, sdlock, sdidx, joinset, fails, jst, runs, late>>

ApAlive(t) ==
  \/ /\ alive < MW
     /\ SetPc(t, "ap_spawn")
     /\ UNCHANGED <<cur, sidx, fret, fj, nret, idle, key, looks, inj, hint, qclosed, dq, tokens, spinning,
                    alive, waiters, epoch, sdflag, wanted, occ, sdlock, sdidx, joinset, fails, jst, runs, late>>
  \/ /\ alive >= MW
     /\ ApDone(t)
     /\ UNCHANGED <<fret, fj, nret, idle, key, looks, inj, hint, qclosed, dq, tokens, spinning,
                    alive, waiters, epoch, sdflag, wanted, occ, sdlock, sdidx, joinset, fails, jst, runs, late>>

FreeSlots == {s \in Slots : ~occ[s]}

\* A new thread in slot s starts at the top of worker_main.
StartIn(s) ==
  /\ occ' = [occ EXCEPT ![s] = TRUE] /\ alive' = alive + 1
  /\ fret' = [fret EXCEPT ![s] = "top"] /\ idle' = [idle EXCEPT ![s] = FALSE]

\* spawn_locked() under spawn_mu_ (thread t; it goes on at `next`). Sets occ, alive, fret,
\* idle, wanted, fails, jst and pc. Written as guarded cases (no IF around primed
\* variables: tla-checker 0.9.0 mis-evaluates some of those, see tla/README.md).
NewSlot == Min(FreeSlots)
\* The job the spawner withdraws when the thread cannot be created (none for shutdown()).
Withdrawn(t) == IF t # SD /\ cur[t] # 0 THEN {cur[t]} ELSE {}
SpawnLocked(t, next) ==
  \/ /\ alive >= MW                                     \* enough threads
     /\ SetPc(t, next) /\ UNCHANGED <<occ, alive, fret, idle, wanted, fails, jst>>
  \/ /\ alive < MW /\ FreeSlots = {}                    \* a retiring thread holds the slot
     /\ wanted' = TRUE /\ SetPc(t, next) /\ UNCHANGED <<occ, alive, fret, idle, fails, jst>>
  \/ /\ alive < MW /\ FreeSlots # {}                    \* std::thread started
     /\ StartIn(NewSlot)
     /\ pc' = [pc EXCEPT ![t] = next, ![NewSlot] = "f_own"]
     /\ UNCHANGED <<wanted, fails, jst>>
  \/ /\ alive < MW /\ FreeSlots # {} /\ fails < Fails   \* std::thread threw
     /\ BUG = "norollback"                              \* the counters stay: a phantom thread
     /\ fails' = fails + 1
     /\ occ' = [occ EXCEPT ![NewSlot] = TRUE] /\ alive' = alive + 1
     /\ SetPc(t, next) /\ UNCHANGED <<fret, idle, wanted, jst>>
  \/ /\ alive < MW /\ FreeSlots # {} /\ fails < Fails   \* std::thread threw
     /\ BUG # "norollback"                              \* the fix: nothing committed
     /\ fails' = fails + 1
     \* after_push withdraws the submitter's job (CAS QUEUED -> failed; a worker that
     \* started it first runs it) and submit throws; shutdown() fails the queued jobs
     /\ jst' = [j \in Jobs |-> IF j \in Withdrawn(t) /\ jst[j] = "queued" THEN "failed" ELSE jst[j]]
     /\ SetPc(t, IF t = SD THEN "sd_fq" ELSE next)
     /\ UNCHANGED <<occ, alive, fret, idle, wanted>>

ApSpawnRest == <<fj, nret, cur, sidx, key, looks, inj, hint, qclosed, dq, tokens, spinning,
                 waiters, epoch, sdflag, sdlock, sdidx, joinset, runs, late>>
ApSpawn(t) ==
  \/ /\ Unlocked /\ sdflag = 1
     /\ SetPc(t, "ap_done")
     /\ UNCHANGED <<occ, alive, fret, idle, wanted, fails, jst>> /\ UNCHANGED ApSpawnRest
  \/ /\ Unlocked /\ sdflag = 0
     /\ SpawnLocked(t, "ap_done") /\ UNCHANGED ApSpawnRest

\* The end of after_push (a control step: merged into nothing else to keep the spawn's
\* single locked step simple).
ApEnd(t) ==
  /\ ApDone(t)
  /\ UNCHANGED <<fret, fj, nret, idle, key, looks, inj, hint, qclosed, dq, tokens, spinning,
                 alive, waiters, epoch, sdflag, wanted, occ, sdlock, sdidx, joinset, fails, jst, runs, late>>

-----------------------------------------------------------------------------
\* notify_one / notify_all (thread t; SD's is notify_all).

NLoad(t) ==
  /\ SetPc(t, IF waiters = 0 THEN nret[t] ELSE "n_bump")
  /\ nret' = IF waiters = 0 THEN [nret EXCEPT ![t] = "none"] ELSE nret
  /\ UNCHANGED <<fret, fj, cur, sidx, idle, key, looks, inj, hint, qclosed, dq, tokens, spinning,
                 alive, waiters, epoch, sdflag, wanted, occ, sdlock, sdidx, joinset, fails, jst, runs, late>>

NBump(t) ==
  /\ epoch' = epoch + 1 /\ SetPc(t, "n_wake")
  /\ UNCHANGED <<fret, fj, nret, cur, sidx, idle, key, looks, inj, hint, qclosed, dq, tokens, spinning,
                 alive, waiters, sdflag, wanted, occ, sdlock, sdidx, joinset, fails, jst, runs, late>>

Sleepers == {w \in Slots : pc[w] = "sleeping"}

NWake(t) ==
  /\ \/ /\ t = SD
        /\ pc' = [x \in Threads |-> IF x = t THEN nret[t]
                                    ELSE IF x \in Sleepers THEN "commit" ELSE pc[x]]
     \/ /\ t # SD /\ Sleepers = {}
        /\ SetPc(t, nret[t])
     \/ /\ t # SD
        /\ \E w \in Sleepers : pc' = [pc EXCEPT ![t] = nret[t], ![w] = "commit"]
  /\ nret' = [nret EXCEPT ![t] = "none"]
  /\ UNCHANGED <<fret, fj, cur, sidx, idle, key, looks, inj, hint, qclosed, dq, tokens, spinning,
                 alive, waiters, epoch, sdflag, wanted, occ, sdlock, sdidx, joinset, fails, jst, runs, late>>

-----------------------------------------------------------------------------
\* shutdown(Wait, Cancel) (thread SD).

SdVarsRest == <<fret, fj, nret, cur, sidx, idle, key, looks, dq, tokens, spinning, waiters, epoch,
                runs, late>>

\* Lock spawn_mu_; injection_.close() (BUG "shutdownstrand": the flag first).
SdStart ==
  /\ Unlocked
  /\ sdlock' = TRUE
  /\ sdflag' = IF BUG = "shutdownstrand" THEN 1 ELSE sdflag
  /\ qclosed' = IF BUG = "shutdownstrand" THEN qclosed ELSE TRUE
  /\ SetPc(SD, IF BUG = "shutdownstrand" THEN "sd_close" ELSE "sd_flag")
  /\ UNCHANGED <<inj, hint, alive, wanted, occ, sdidx, joinset, fails, jst>> /\ UNCHANGED SdVarsRest

SdFlag ==
  /\ sdflag' = 1 /\ SetPc(SD, "sd_drain")
  /\ UNCHANGED <<inj, hint, qclosed, alive, wanted, occ, sdlock, sdidx, joinset, fails, jst>>
  /\ UNCHANGED SdVarsRest

AfterLock == IF Cancel THEN "sd_cq" ELSE "n_load"
SdNret == IF Wait THEN "sd_collect" ELSE "sd_done"

\* BUG "shutdownstrand": injection_.close(), unlock.
SdClose ==
  /\ qclosed' = TRUE /\ sdlock' = FALSE
  /\ SetPc(SD, AfterLock) /\ nret' = [nret EXCEPT ![SD] = SdNret]
  /\ UNCHANGED <<inj, hint, sdflag, alive, wanted, occ, sdidx, joinset, fails, jst>>
  /\ UNCHANGED <<fret, fj, cur, sidx, idle, key, looks, dq, tokens, spinning, waiters, epoch, runs, late>>

\* alive_ == 0 && !consumer_sees_empty() -> spawn_locked(); unlock.
SdDrainRest == <<inj, hint, qclosed, sdflag, sdidx, joinset, fj, cur, sidx, key, looks, dq, tokens,
                 spinning, waiters, epoch, runs, late>>
SdDrain ==
  /\ sdlock' = FALSE
  /\ nret' = [nret EXCEPT ![SD] = SdNret]
  /\ \/ /\ alive = 0 /\ inj # <<>>
        /\ SpawnLocked(SD, AfterLock)
     \/ /\ ~(alive = 0 /\ inj # <<>>)
        /\ SetPc(SD, AfterLock) /\ UNCHANGED <<occ, alive, fret, idle, wanted, fails, jst>>
  /\ UNCHANGED SdDrainRest

\* cancel_queued() ("sd_cq") and, after a failed draining spawn, fail_queued() ("sd_fq"):
\* each entry popped (the injection queue) or stolen (slot by slot), ended if it is still
\* QUEUED (Job::cancel's / withdraw's CAS: cancelled / failed), and discarded.
EndIt(j, how) == [jst EXCEPT ![j] = IF jst[j] = "queued" THEN how ELSE jst[j]]
SdDiscardStep(how, then) ==
  \/ /\ sdidx = 0 /\ inj # <<>>
     /\ inj' = Tail(inj) /\ hint' = hint - 1 /\ jst' = EndIt(Head(inj), how)
     /\ UNCHANGED <<dq, sdidx, pc>>
  \/ /\ sdidx = 0 /\ inj = <<>>
     /\ sdidx' = 1 /\ UNCHANGED <<inj, hint, dq, jst, pc>>
  \/ /\ sdidx \in Slots /\ dq[sdidx] # <<>>
     /\ dq' = [dq EXCEPT ![sdidx] = Tail(dq[sdidx])] /\ jst' = EndIt(Head(dq[sdidx]), how)
     /\ UNCHANGED <<inj, hint, sdidx, pc>>
  \/ /\ sdidx \in Slots /\ dq[sdidx] = <<>>
     /\ sdidx' = sdidx + 1 /\ UNCHANGED <<inj, hint, dq, jst, pc>>
  \/ /\ sdidx = MW + 1
     /\ SetPc(SD, then) /\ sdidx' = 0 /\ UNCHANGED <<inj, hint, dq, jst>>
SdDiscard(how, then) ==
  /\ SdDiscardStep(how, then)
  /\ UNCHANGED <<fret, fj, nret, cur, sidx, idle, key, looks, qclosed, tokens, spinning, alive,
                 waiters, epoch, sdflag, wanted, occ, sdlock, joinset, fails, runs, late>>
SdCq == SdDiscard("cancelled", "n_load")
SdFq == SdDiscard("failed", AfterLock)

SdCollect ==
  /\ Unlocked
  /\ joinset' = {s \in Slots : pc[s] # "absent"} /\ SetPc(SD, "sd_join")
  /\ UNCHANGED <<inj, hint, qclosed, sdflag, alive, wanted, occ, sdlock, sdidx, fails, jst, nret>>
  /\ UNCHANGED SdVarsRest

SdJoin ==
  /\ \A s \in joinset : pc[s] = "absent"
  /\ SetPc(SD, "sd_done")
  /\ UNCHANGED <<inj, hint, qclosed, sdflag, alive, wanted, occ, sdlock, sdidx, joinset, fails, jst, nret>>
  /\ UNCHANGED SdVarsRest

-----------------------------------------------------------------------------
\* Dispatch: one action per thread and label.

Thread(t) ==
  CASE pc[t] = "f_own"       -> FOwn(t) /\ UNCHANGED FindVars
    [] pc[t] = "f_steal"     -> FSteal(t) /\ UNCHANGED FindVars
    [] pc[t] = "f_hint"      -> FHint(t) /\ UNCHANGED FindVars
    [] pc[t] = "f_inj"       -> FInj(t) /\ UNCHANGED FindVars
    [] pc[t] = "mint"        -> Mint(t)
    [] pc[t] = "spin_enter"  -> SpinEnter(t)
    [] pc[t] = "spin_look"   -> SpinLook(t)
    [] pc[t] = "spin_more"   -> SpinMore(t)
    [] pc[t] = "spin_exit"   -> SpinExit(t)
    [] pc[t] = "obt_check"   -> OldBatonCheck(t)
    [] pc[t] = "burn"        -> Burn(t)
    [] pc[t] = "bt_check"    -> BatonCheck(t)
    [] pc[t] = "prep"        -> Prep(t)
    [] pc[t] = "cancel"      -> CancelWait(t)
    [] pc[t] = "sd_check"    -> SdCheck(t)
    [] pc[t] = "sd_cancel"   -> SdCancel(t)
    [] pc[t] = "sd_last"     -> SdLast(t)
    [] pc[t] = "commit"      -> Commit(t)
    [] pc[t] = "withdraw"    -> Withdraw(t)
    [] pc[t] = "to_withdraw" -> ToWithdraw(t)
    [] pc[t] = "to_epoch"    -> ToEpoch(t)
    [] pc[t] = "r_token"     -> RToken(t)
    [] pc[t] = "r_dec"       -> RDec(t)
    [] pc[t] = "r_decide"    -> RDecide(t)
    [] pc[t] = "exec"        -> Exec(t)
    [] pc[t] = "body"        -> Body(t)
    [] pc[t] = "is_check"    -> IsCheck(t)
    [] pc[t] = "is_push"     -> IsPush(t)
    [] pc[t] = "exit"        -> Exit(t)
    [] pc[t] = "s_push"      -> SPush(t)
    [] pc[t] = "s_size"      -> SSize(t)
    [] pc[t] = "ap_spin"     -> ApSpin(t)
    [] pc[t] = "ap_token"    -> ApToken(t)
    [] pc[t] = "ap_alive"    -> ApAlive(t)
    [] pc[t] = "ap_spawn"    -> ApSpawn(t)
    [] pc[t] = "ap_done"     -> ApEnd(t)
    [] pc[t] = "n_load"      -> NLoad(t)
    [] pc[t] = "n_bump"      -> NBump(t)
    [] pc[t] = "n_wake"      -> NWake(t)
    [] pc[t] = "sd_start"    -> SdStart
    [] pc[t] = "sd_flag"     -> SdFlag
    [] pc[t] = "sd_close"    -> SdClose
    [] pc[t] = "sd_drain"    -> SdDrain
    [] pc[t] = "sd_fq"       -> SdFq
    [] pc[t] = "sd_cq"       -> SdCq
    [] pc[t] = "sd_collect"  -> SdCollect
    [] pc[t] = "sd_join"     -> SdJoin
    [] OTHER                 -> FALSE   \* absent, sleeping, s_done, sd_done, sd_none

-----------------------------------------------------------------------------
\* The end: every submitter done, shutdown returned (or none), every worker gone or asleep.
SubsDone == \A t \in Subs : pc[t] = "s_done"
SdEnded == pc[SD] \in {"sd_done", "sd_none"}
Quiet == SubsDone /\ SdEnded /\ \A w \in Slots : pc[w] \in {"absent", "sleeping"}
Terminating == Quiet /\ UNCHANGED vars

Next == (\E t \in Threads : Thread(t)) \/ (\E w \in Slots : Timeout(w)) \/ Terminating

Spec == Init /\ [][Next]_vars /\ \A t \in Threads : WF_vars(Thread(t))

-----------------------------------------------------------------------------
\* INVARIANTS

WorkerPcs == {"absent", "f_own", "f_steal", "f_hint", "f_inj", "mint", "spin_enter", "spin_look",
              "spin_more", "spin_exit", "obt_check", "burn", "bt_check", "prep", "cancel",
              "sd_check", "sd_cancel", "sd_last", "commit", "sleeping", "withdraw", "to_withdraw",
              "to_epoch", "r_token", "r_dec", "r_decide", "exec", "body", "is_check", "is_push",
              "exit", "ap_spin", "ap_token", "ap_alive", "ap_spawn", "ap_done",
              "n_load", "n_bump", "n_wake"}
SubPcs == {"s_push", "s_size", "s_done", "ap_spin", "ap_token", "ap_alive", "ap_spawn", "ap_done",
           "n_load", "n_bump", "n_wake"}
SdPcs == {"sd_none", "sd_start", "sd_flag", "sd_close", "sd_drain", "sd_fq", "sd_cq",
          "n_load", "n_bump", "n_wake", "sd_collect", "sd_join", "sd_done"}

TypeOK ==
  /\ \A w \in Slots : pc[w] \in WorkerPcs /\ fj[w] \in 0..NJ /\ idle[w] \in BOOLEAN
  /\ \A t \in Subs : pc[t] \in SubPcs
  /\ pc[SD] \in SdPcs
  /\ \A j \in Jobs : jst[j] \in {"new", "queued", "running"} \cup Final /\ runs[j] \in 0..1
  /\ tokens \in 0..MW /\ spinning \in 0..MaxSpin /\ waiters \in 0..MW /\ hint \in -S..NJ
  /\ sdflag \in 0..1 /\ fails \in 0..Fails

\* A job starts at most once, and only from QUEUED.
NoJobRunTwice == \A j \in Jobs : runs[j] <= 1 /\ (runs[j] = 1 <=> jst[j] \in {"running", "done"})

\* Held by a worker between its pop and its exec.
HeldPcs == {"spin_exit", "spin_more", "obt_check", "burn", "bt_check", "cancel", "exec", "r_decide",
            "n_load", "n_bump", "n_wake"}
Held(j) == \E w \in Slots : fj[w] = j /\ pc[w] \in HeldPcs
\* Every QUEUED job has its entry somewhere: a queue, or a worker about to exec it.
QueuedIsSomewhere ==
  \A j \in Jobs : jst[j] = "queued" => (j \in InInj \/ j \in InDeques \/ Held(j))

\* The end: every job submitted and accepted has ended (ran, cancelled or failed).
Settled(j) == jst[j] \in Final \/ (jst[j] = "new" /\ \E p \in Jobs : ChildOf[p] = j /\ jst[p] \in Final \ {"done"})
QuietAllSettled == Quiet => \A j \in Jobs : Settled(j)

\* shutdown(wait=true) returns only after every accepted job finished and every thread ended.
ShutdownWaitComplete ==
  (Wait /\ pc[SD] = "sd_done") =>
     /\ \A j \in Jobs : jst[j] \notin {"queued", "running"}
     /\ \A w \in Slots : pc[w] = "absent"

\* A submit that began after shutdown() returned is refused.
RefusedAfterShutdown == ~late

\* Thread counts: alive_ counts exactly the threads holding a slot and not retiring; no
\* more than max_workers; a slot is occupied iff a thread holds it.
Retiring(w) == (pc[w] \in {"f_own", "f_steal", "f_hint", "f_inj"} /\ fret[w] = "retire") \/ pc[w] = "r_decide"
Counted == {w \in Slots : pc[w] # "absent" /\ ~Retiring(w)}
ThreadCounts ==
  /\ alive = Cardinality(Counted) /\ alive <= MW
  /\ \A s \in Slots : occ[s] <=> pc[s] # "absent"

\* Idle tokens never exceed idle workers (docs/executor.md), while the pool is open (a worker
\* leaving on shutdown keeps its token: no accepted submit can count on it any more).
TokensLeIdle == sdflag = 0 => tokens <= Cardinality({w \in Slots : idle[w]})

\* spinning_ counts the spinners; at most max_spinning_.
Spinners == {w \in Slots : pc[w] \in {"spin_look", "spin_more", "spin_exit"}
                           \/ (pc[w] \in {"f_own", "f_steal", "f_hint", "f_inj"} /\ fret[w] = "spin")}
SpinningExact == spinning = Cardinality(Spinners) /\ spinning <= MaxSpin

\* waiters_ counts exactly the announced workers (prepare_wait .. withdraw).
Announced == {w \in Slots : pc[w] \in {"cancel", "sd_check", "sd_cancel", "commit", "sleeping",
                                        "withdraw", "to_withdraw"}
                            \/ (pc[w] \in {"f_own", "f_steal", "f_hint", "f_inj"} /\ fret[w] = "recheck")}
WaitersExact == waiters = Cardinality(Announced)

\* The burst defect: never a worker asleep in the futex while a job is queued, nobody spins
\* and nobody is on the way to look -- every other thread is settled: a worker asleep, gone
\* or running a job, a submitter between submits, shutdown() not inside a step.
SettledThread(t) ==
  IF t \in Slots THEN pc[t] \in {"absent", "sleeping", "body"}
  ELSE IF t \in Subs THEN pc[t] \in {"s_push", "s_done"}
  ELSE pc[t] \in {"sd_none", "sd_start", "sd_join", "sd_done"}
QueuedWork == \E j \in Jobs : jst[j] = "queued" /\ (j \in InInj \/ j \in InDeques)
NoSleeperWhileWorkVisible ==
  ((\A t \in Threads : SettledThread(t)) /\ Sleepers # {}) => ~QueuedWork

\* A schedule for ThreadPoolBuggyNoBaton.cfg (CONSTRAINT: the states explored are a subset of
\* the reachable ones, so a violation found under it is a real trace): once job 3 is pushed,
\* worker 2 stays asleep -- the shape of the burst (ThreadPoolBurst.cfg checks the fixed code
\* without it).
BurstSchedule == (MW >= 2 /\ NJ >= 3 /\ jst[3] # "new") => pc[2] = "sleeping"

\* COVERAGE (each must FAIL in the model named: the behaviour is reachable; checked by hand,
\* README.md). Not checked by the registered cfgs.
CovNoSpinFind == ~\E w \in Slots : pc[w] = "spin_exit" /\ fj[w] # 0      \* ThreadPool.cfg
CovNoWake == ~\E w \in Slots : pc[w] = "withdraw"                           \* ThreadPool.cfg
CovNoDrainSpawn == ~(pc[SD] = "sd_drain" /\ alive = 0 /\ inj # <<>>)         \* ThreadPool.cfg
CovNoRefused == \A j \in Jobs : jst[j] # "refused"                         \* ThreadPool.cfg
CovNoFailed == \A j \in Jobs : jst[j] # "failed"                           \* ThreadPoolSpawnFail.cfg
CovNoFailQueued == pc[SD] # "sd_fq"                                       \* ThreadPoolSpawnFail.cfg
CovNoRetire == \A w \in Slots : pc[w] # "r_decide" \/ fj[w] # 0 \/ wanted \/ sdflag = 1  \* ThreadPoolRetire.cfg
CovNoCancelled == \A j \in Jobs : jst[j] # "cancelled"                     \* ThreadPoolCancel.cfg

\* LIVENESS (weak fairness of every thread's own steps; keep_alive timeouts are not fair).
EveryJobSettles == \A j \in Jobs : <>Settled(j)
ShutdownReturns == <>(pc[SD] = "sd_done")
AllThreadsEnd == <>(\A w \in Slots : pc[w] = "absent")
=============================================================================
