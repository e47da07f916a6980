------------------------------ MODULE ThreadPool ------------------------------
\* The combined protocol of executor/thread_pool_executor.hpp (ThreadPoolExecutor): the
\* worker loop (own deque, steal, injection queue, spin, parking on the event count of
\* primitives/event_count.hpp: prepare -> re-check -> commit/cancel), submit's idle token and
\* wake decision (spinners, lazy thread growth), the idle token minted before a job's outcome
\* is published (on_finishing), the baton, keep-alive retirement, thread-creation failure,
\* and concurrent shutdown(wait, cancel_futures) calls. Action by action; the event count is
\* in the model (its own protocol is Parking.tla's, re-checked here as part of the pool).
\*
\* Models the code on main (9d46320 / 5eba2f1 merged, 7bf4307, cb8c0a1). Every action
\* primes one fixed set of variables in all its branches and ends with the UNCHANGED list of
\* all the others (the lists were generated when the spec was rewritten; keep them exact).
\*
\* Threads: workers 1..MW (a worker's identity is its slot: a slot holds at most one thread
\* at a time, and a retired slot's next thread starts at the top of worker_main), external
\* submitters MW+1..MW+S (submitter i submits the jobs Ext[i] in order; with GetEach it waits
\* for each job's outcome, future.get(), before the next submit), and shutdown callers
\* MW+S+1..MW+S+ND (ND = Len(Wait) if Shutdown, else 0; caller d calls
\* shutdown(Wait[d], Cancel[d]) once, at a moment of its choosing). A job j with ChildOf[j] # 0
\* submits that child job from inside (into its worker's deque) and then returns.
\*
\* ACTION <-> CODE (executor/thread_pool_executor.hpp on main; W = worker, T = any thread
\* running enqueue/after_push, D = a shutdown caller)
\*  find_job(s) (W; returns to fret[w]):
\*   f_own      s.deque.pop()                        own deque, LIFO (one linearizable step)
\*   f_steal    victim.deque.steal(out)              FIFO from any non-empty other slot
\*   f_hint     pop_injected: injection_size_.load() <= 0 -> none
\*   f_inj      pop_injected_exact: try_pop under the queue's lock, injection_size_.fetch_sub
\*  worker_main (W; token[w] = Worker::token, spun[w] = Worker::spun):
\*   mint       !w.token: w.token = true; mint_idle_token()   idle_tokens_.fetch_add(1)
\*   spin_enter w.spun = true; spin_for_job: spinning_ CAS n -> n+1 if n < max_spinning_
\*   spin_look  the spin loop: is_shutdown() -> stop; else find_job (SpinLooks passes)
\*   spin_exit  spinning_.fetch_sub(1); (BUG "nobaton": the old baton here, if found)
\*   burn       w.token: w.token = false; take_idle_token()  burn my token if a push left it
\*   bt_check   w.spun: w.spun = false; spinning_.load() == 0 && work_visible() -> notify_one
\*   prep       prepare_wait(): waiters_.fetch_add(1); key = epoch_.load()
\*   (re-check) find_job (fret "recheck")
\*   cancel     cancel_wait(): waiters_.fetch_sub(1)  (the re-check found a job)
\*   sd_check   is_shutdown()                        shutdown_.load()
\*   sd_cancel  cancel_wait() before leaving
\*   sd_last    pop_injected_exact() (2e4b443): the last look under the queue's lock; a job
\*              is run (BUG "doublecancel": before 7bf4307 the code fell into a second cancel_wait)
\*   commit     wait_for: epoch_ != key -> woken; else futex (compare + enqueue, one step)
\*   sleeping   in the futex: a notifier's wake -> commit; keep_alive timeout -> to_withdraw
\*   withdraw   waiters_.fetch_sub(1) after a wake   -> continue (top)
\*   to_withdraw, to_epoch   wait_for's timeout: waiters_.fetch_sub(1); epoch_ != key -> woken
\*   r_token    retire(): take_idle_token(); none -> stay (continue)
\*   r_dec      retire(): lock; alive_ - 1
\*   (re-check) find_job (fret "retire")
\*   r_decide   retire(): lock; job || spawn_wanted_ || shutdown -> alive_ + 1, stay (run the
\*              job: run_job directly, no burn, no baton); else the slot is freed, the thread ends
\*   exec       run_job -> Job::execute: try_start CAS QUEUED -> RUNNING, else discard
\*   body       the job's function runs (may block for long); a child is submitted from here
\*   (return)   the function returns; on_finishing (BeforePublish): w.token, or the own
\*              deque's empty_hint() false, or injection_size_.load() > 0 -> nothing;
\*   fin_mint   else w.token = true; mint_idle_token()
\*   publish    set_value: the outcome is published (the job is done; a get() returns)
\*   exit       break; lock; leave_locked: alive_ - 1, slot freed, the thread ends
\*  enqueue (T):
\*   e_token    counted = take_idle_token()          BEFORE the push (9d46320)
\*   s_push     injection_.push(job) (under its lock): Closed -> refuse (ExecutorShutdownError)
\*   s_size     injection_size_.fetch_add(1)
\*   is_check   (a job's submit) is_shutdown() -> refuse
\*   is_push    mine->deque.push(job)
\*  after_push (T):
\*   ap_spin    spinning_.load() == 0 -> notify_one; then counted -> return
\*   ap_alive   alive_.load() >= max_workers -> return; else spawn()
\*   ap_spawn   spawn(): lock; shutdown_ -> return; spawn_locked(): alive_ >= max -> return;
\*              no free slot -> spawn_wanted_ = true; else std::thread (which may fail: see
\*              SPAWN FAILURE), then occupied, alive_ + 1
\*  notify (T, W, D):
\*   n_load     waiters_.load() == 0 -> return
\*   n_bump     epoch_.fetch_add(1)
\*   n_wake     wake_one (any one futex sleeper, or nobody) / wake_all (D)
\*  shutdown(Wait[d], Cancel[d]) (D):
\*   sd_start   ShutdownCall: lock, ++shutdown_calls_ (merged with the next lock section);
\*              lock spawn_mu_ (held until sd_drain); injection_.close()
\*   sd_flag    shutdown_.store(1)
\*   sd_drain   alive_ == 0 && queue not empty -> spawn_locked() (2e4b443); unlock
\*   sd_fq      (the draining spawn failed) fail_queued(): every queued job withdrawn
\*   sd_cq      cancel_queued(): pop the injection queue, then steal each slot, until
\*              empty: Job::cancel (CAS QUEUED -> CANCELLED) and discard
\*   (notify)   parking_.notify_all()
\*   sd_collect if Wait: lock; move out the joinable threads (those no other call moved out)
\*   sd_join    join them (enabled once each has ended)
\*   sd_leave   ShutdownCall::leave: lock; --shutdown_calls_
\*   sd_wait    if Wait: wait until shutdown_calls_ == 0 (every concurrent call's joins done)
\*
\* SPAWN FAILURE (at most Fails times, std::thread's constructor throws):
\*  the code on main: the slot and alive_ are committed only once the thread exists (nothing
\*    to roll back); after_push withdraws the submitter's job (CAS QUEUED -> failed: its
\*    future gets the error) and submit throws, unless a worker started the job first (then
\*    it runs); a later submit tries the spawn again. shutdown()'s draining spawn that fails
\*    runs fail_queued(): every job still queued is withdrawn (failed) and discarded.
\*  BUG "norollback" (the code before 9d46320): the exception leaves spawn_locked with the
\*    slot occupied and alive_ counted: no thread runs, later submits see alive_ and start none.
\*
\* ABSTRACTIONS (read before trusting a green run)
\*  * Sequentially consistent memory (the code is seq_cst on every Dekker pair; Relacy
\*    checks the real orders). Each deque operation is one step (ChaseLevDeque.tla checks the
\*    deque); a steal never answers Retry (Retry only re-runs the scan in the code).
\*  * The steal scan is one step per find_job (any non-empty other slot: the random start).
\*    With MW = 2 there is one victim, so this is exact.
\*  * The injection queue's pop and its size decrement are one step (the window in between
\*    only over-estimates the hint). The push and the increment are two steps: the hint lags
\*    a push (the 2e4b443 window).
\*  * prepare_wait()'s fetch_add and epoch load are one step, so are wait's epoch load and
\*    futex compare (Parking.tla has them split); notify's load, bump and wake are three.
\*    work_visible(), the baton's spinning_ load, and on_finishing's two loads are one step each.
\*  * The spin makes SpinLooks find_job passes at most (it may stop earlier: its timeout).
\*  * keep_alive expiry (Timeout) may happen to any sleeping worker, but need not: it is
\*    not fair, so a worker may sleep forever. Spawn failure is a choice of the spawning step.
\*    Not modelled: help_while_waiting (get() inside a job), map(), future.cancel() from a
\*    user, done-callbacks, the statistics, job exceptions, bad_alloc.
\*  * spawn_mu_ sections are one step each, except shutdown's close/flag/drain, which holds
\*    it over three steps (sdlock); every other locked step waits for it. ShutdownCall's
\*    constructor (lock, ++calls) is merged into shutdown's first locked step.
\*
\* BUG (seeded, separate cfgs):
\*  "none"           the code on main (7bf4307: ONE cancel_wait() on the shutdown path, the
\*                   fix of "doublecancel", README.md)
\*  "doublecancel"   before 7bf4307: when sd_last's pop finds a job, the code falls into
\*                   `if (job != nullptr) parking_.cancel_wait();` a second time
\*  "shutdownstrand" before 2e4b443: the flag before injection_.close(), no draining spawn,
\*                   a leaving worker trusts the size hint
\*  "nobaton"        before 3b1a14d: only a worker that found its job while spinning passes
\*                   the baton (inside spin_for_job); a worker leaving idle otherwise does not
\*  "norollback"     spawn failure before 9d46320 (see SPAWN FAILURE)
\*  "oldtoken"       before 9d46320: the token taken after the push (in after_push, after the
\*                   notify), no token minted before the outcome is published
\*  "nocallwait"     before 9d46320: no ShutdownCall (a second shutdown(true) returns while
\*                   the first is still joining)
\*
\* Single module on purpose (tla-checker ignores EXTENDS of user modules).

EXTENDS Naturals, Sequences, FiniteSets

CONSTANTS
  MW,         \* max_workers (slots)
  Ext,        \* Ext[i]: the jobs external submitter i submits, in order
  GetEach,    \* TRUE: a submitter waits for each job's outcome before its next submit
  ChildOf,    \* ChildOf[j]: the job that job j submits from inside while it runs (0: none)
  MaxSpin,    \* max_spinning_
  SpinLooks,  \* find_job passes per spin, at most
  KeepAlive,  \* TRUE: a sleeping worker may time out (keep_alive) and retire
  Fails,      \* std::thread may fail this many times, at most
  Shutdown,   \* TRUE: Len(Wait) threads call shutdown(Wait[d], Cancel[d]), each once
  Wait, Cancel,
  BUG         \* "none" | "doublecancel" | "shutdownstrand" | "nobaton" | "norollback" | "oldtoken" | "nocallwait"

S == Len(Ext)
NJ == Len(ChildOf)
ND == IF Shutdown THEN Len(Wait) ELSE 0
Jobs == 1..NJ
Slots == 1..MW
Subs == MW + 1 .. MW + S
SDs == MW + S + 1 .. MW + S + ND
Threads == 1 .. MW + S + ND
WaitOf(d) == Wait[d - MW - S]
CancelOf(d) == Cancel[d - MW - S]

ASSUME /\ MW \in 1..3 /\ S \in 1..3 /\ NJ \in 1..6 /\ Len(Wait) \in 1..3 /\ Len(Cancel) = Len(Wait)
       /\ MaxSpin \in 1..3 /\ SpinLooks \in 1..3 /\ Fails \in 0..3
       /\ KeepAlive \in BOOLEAN /\ Shutdown \in BOOLEAN /\ GetEach \in BOOLEAN
       /\ BUG \in {"none", "doublecancel", "shutdownstrand", "nobaton", "norollback", "oldtoken", "nocallwait"}

VARIABLES
  pc,        \* pc[t]
  fret,      \* fret[w]: where find_job returns: "top" | "spin" | "recheck" | "retire"
  fj,        \* fj[w]: the job find_job returned (0: none)
  nret,      \* nret[t]: where notify returns
  cur,       \* cur[t]: the job being submitted (submitters; a worker's child)
  sidx,      \* sidx[t]: the index in Ext of the submitter's current job
  counted,   \* counted[t]: enqueue's take_idle_token() succeeded
  token,     \* token[w]: Worker::token (w minted a token it has not burnt)
  spun,      \* spun[w]: Worker::spun (w spun or parked since its last job)
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
  sdlock,    \* a shutdown() call holds spawn_mu_ over its close/flag/drain
  sdidx,     \* sdidx[d]: cancel_queued's position: 0 = the injection queue, s = slot s
  joinset,   \* joinset[d]: the threads shutdown call d moved out to join
  calls,     \* shutdown_calls_
  fails,     \* spawn failures so far
  started,   \* ghost: threads started so far (threads_started_)
  jst,       \* jst[j]: "new" | "queued" | "running" | "done" | "cancelled" | "failed" | "refused"
  runs,      \* ghost: runs[j] = times job j started
  late       \* ghost: a submit that began after a shutdown() call returned was accepted

vars == <<pc, fret, fj, nret, cur, sidx, counted, token, spun, key, looks, inj, hint, qclosed,
          dq, tokens, spinning, alive, waiters, epoch, sdflag, wanted, occ, sdlock, sdidx,
          joinset, calls, fails, started, jst, runs, late>>

Final == {"done", "cancelled", "failed", "refused"}
IsWorker(t) == t \in Slots
Min(X) == CHOOSE x \in X : \A y \in X : x <= y
\* Where a submit begins (BUG "oldtoken": at the push, the token comes after it).
SubStart == IF BUG = "oldtoken" THEN "s_push" ELSE "e_token"

Init ==
  /\ pc = [t \in Threads |-> IF t \in Slots THEN "absent"
                              ELSE IF t \in Subs THEN (IF Len(Ext[t - MW]) > 0 THEN SubStart ELSE "s_done")
                              ELSE "sd_start"]
  /\ fret = [w \in Slots |-> "none"] /\ fj = [w \in Slots |-> 0]
  /\ nret = [t \in Threads |-> "none"]
  /\ cur = [t \in Threads |-> IF t \in Subs /\ Len(Ext[t - MW]) > 0 THEN Ext[t - MW][1] ELSE 0]
  /\ sidx = [t \in Threads |-> 1] /\ counted = [t \in Threads |-> FALSE]
  /\ token = [w \in Slots |-> FALSE] /\ spun = [w \in Slots |-> FALSE]
  /\ key = [w \in Slots |-> 0] /\ looks = [w \in Slots |-> 0]
  /\ inj = <<>> /\ hint = 0 /\ qclosed = FALSE /\ dq = [s \in Slots |-> <<>>]
  /\ tokens = 0 /\ spinning = 0 /\ alive = 0 /\ waiters = 0 /\ epoch = 0
  /\ sdflag = 0 /\ wanted = FALSE /\ occ = [s \in Slots |-> FALSE] /\ sdlock = FALSE
  /\ sdidx = [d \in SDs |-> 0] /\ joinset = [d \in SDs |-> {}] /\ calls = 0
  /\ fails = 0 /\ started = 0
  /\ jst = [j \in Jobs |-> "new"] /\ runs = [j \in Jobs |-> 0] /\ late = FALSE

-----------------------------------------------------------------------------
\* Helpers.

SetPc(t, l) == pc' = [pc EXCEPT ![t] = l]
\* Call find_job on worker w, returning to r.
CallFind(w, r) == /\ pc' = [pc EXCEPT ![w] = "f_own"] /\ fret' = [fret EXCEPT ![w] = r]

\* Where a worker goes with a job it found at the top, in the re-check or in the last look:
\* burn its token, pass the baton (if it spun), run it.
Found(w) == IF token[w] THEN "burn" ELSE IF spun[w] /\ BUG # "nobaton" THEN "bt_check" ELSE "exec"
TopNone(w) == IF token[w] THEN "spin_enter" ELSE "mint"
AfterTop(w, j) == IF j # 0 THEN Found(w) ELSE TopNone(w)
AfterSpin(w, j) == IF j # 0 \/ looks[w] <= 1 THEN "spin_exit" ELSE "spin_more"
AfterRecheck(j) == IF j # 0 THEN "cancel" ELSE "sd_check"
AfterFind(w, j) ==
  IF fret[w] = "top" THEN AfterTop(w, j)
  ELSE IF fret[w] = "spin" THEN AfterSpin(w, j)
  ELSE IF fret[w] = "recheck" THEN AfterRecheck(j)
  ELSE "r_decide"                                    \* "retire"

InDeques == UNION {{dq[s][i] : i \in 1..Len(dq[s])} : s \in Slots}
InInj == {inj[i] : i \in 1..Len(inj)}
\* work_visible(): the size hint, or a non-empty deque (empty_hint).
WorkVisible == hint > 0 \/ \E s \in Slots : dq[s] # <<>>

\* Where a submitter goes after a submit (accepted or refused).
NextSubmit(t) ==
  IF sidx[t] < Len(Ext[t - MW]) THEN (IF GetEach THEN "s_get" ELSE SubStart) ELSE "s_done"
JobAt(t, k) == Ext[t - MW][k]
NextCur(t) == IF sidx[t] < Len(Ext[t - MW]) THEN JobAt(t, sidx[t] + 1) ELSE 0
\* The end of after_push / of a refused submit: a worker goes back to its job's body; a
\* submitter to its next job (expression-level IFs only: see the note in README.md).
ApDone(t) ==
  /\ SetPc(t, IF IsWorker(t) THEN "body" ELSE NextSubmit(t))
  /\ sidx' = IF IsWorker(t) THEN sidx ELSE [sidx EXCEPT ![t] = sidx[t] + 1]
  /\ cur' = [cur EXCEPT ![t] = IF IsWorker(t) THEN 0 ELSE NextCur(t)]
  /\ counted' = [counted EXCEPT ![t] = FALSE]

\* A thread's locked one-step section waits while a shutdown() call holds spawn_mu_.
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
  /\ UNCHANGED <<nret, cur, sidx, counted, token, spun, key, looks, inj, hint, qclosed, tokens,
                 spinning, alive, waiters, epoch, sdflag, wanted, occ, sdlock, sdidx,
                 joinset, calls, fails, started, jst, runs, late>>

Victims(w) == {v \in Slots \ {w} : dq[v] # <<>>}
FSteal(w) ==
  /\ \/ /\ Victims(w) = {}
        /\ SetPc(w, "f_hint") /\ dq' = dq /\ fj' = fj /\ fret' = fret
     \/ \E v \in Victims(w) :
          /\ dq' = [dq EXCEPT ![v] = Tail(dq[v])]
          /\ fj' = [fj EXCEPT ![w] = Head(dq[v])]
          /\ pc' = [pc EXCEPT ![w] = AfterFind(w, Head(dq[v]))]
          /\ fret' = [fret EXCEPT ![w] = "none"]
  /\ UNCHANGED <<nret, cur, sidx, counted, token, spun, key, looks, inj, hint, qclosed, tokens,
                 spinning, alive, waiters, epoch, sdflag, wanted, occ, sdlock, sdidx,
                 joinset, calls, fails, started, jst, runs, late>>

FHint(w) ==
  /\ pc' = [pc EXCEPT ![w] = IF hint > 0 THEN "f_inj" ELSE AfterFind(w, 0)]
  /\ fj' = IF hint > 0 THEN fj ELSE [fj EXCEPT ![w] = 0]
  /\ fret' = IF hint > 0 THEN fret ELSE [fret EXCEPT ![w] = "none"]
  /\ UNCHANGED <<nret, cur, sidx, counted, token, spun, key, looks, inj, hint, qclosed, dq,
                 tokens, spinning, alive, waiters, epoch, sdflag, wanted, occ, sdlock,
                 sdidx, joinset, calls, fails, started, jst, runs, late>>

\* pop_injected_exact: try_pop under the queue's lock, then the hint's decrement (one step).
PopExact(w) ==
  /\ inj' = IF inj # <<>> THEN Tail(inj) ELSE inj
  /\ hint' = IF inj # <<>> THEN hint - 1 ELSE hint
  /\ fj' = [fj EXCEPT ![w] = IF inj # <<>> THEN Head(inj) ELSE 0]

FInj(w) ==
  /\ PopExact(w)
  /\ SetPc(w, AfterFind(w, IF inj # <<>> THEN Head(inj) ELSE 0))
  /\ fret' = [fret EXCEPT ![w] = "none"]
  /\ UNCHANGED <<nret, cur, sidx, counted, token, spun, key, looks, qclosed, dq, tokens,
                 spinning, alive, waiters, epoch, sdflag, wanted, occ, sdlock, sdidx,
                 joinset, calls, fails, started, jst, runs, late>>

-----------------------------------------------------------------------------
\* worker_main (worker w).

Mint(w) ==
  /\ token' = [token EXCEPT ![w] = TRUE] /\ tokens' = tokens + 1 /\ SetPc(w, "spin_enter")
  /\ UNCHANGED <<fret, fj, nret, cur, sidx, counted, spun, key, looks, inj, hint, qclosed, dq,
                 spinning, alive, waiters, epoch, sdflag, wanted, occ, sdlock, sdidx,
                 joinset, calls, fails, started, jst, runs, late>>

\* w.spun = true; spin_for_job's CAS.
SpinEnter(w) ==
  /\ spun' = [spun EXCEPT ![w] = TRUE]
  /\ spinning' = IF spinning < MaxSpin THEN spinning + 1 ELSE spinning
  /\ looks' = IF spinning < MaxSpin THEN [looks EXCEPT ![w] = SpinLooks] ELSE looks
  /\ SetPc(w, IF spinning < MaxSpin THEN "spin_look" ELSE "prep")
  /\ UNCHANGED <<fret, fj, nret, cur, sidx, counted, token, key, inj, hint, qclosed, dq, tokens,
                 alive, waiters, epoch, sdflag, wanted, occ, sdlock, sdidx, joinset, calls,
                 fails, started, jst, runs, late>>

\* The spin loop's condition, then a find_job pass.
SpinLook(w) ==
  /\ SetPc(w, IF sdflag = 1 THEN "spin_exit" ELSE "f_own")
  /\ fj' = IF sdflag = 1 THEN [fj EXCEPT ![w] = 0] ELSE fj
  /\ fret' = IF sdflag = 1 THEN fret ELSE [fret EXCEPT ![w] = "spin"]
  /\ UNCHANGED <<nret, cur, sidx, counted, token, spun, key, looks, inj, hint, qclosed, dq,
                 tokens, spinning, alive, waiters, epoch, sdflag, wanted, occ, sdlock,
                 sdidx, joinset, calls, fails, started, jst, runs, late>>

\* Nothing found and passes left: look again, or the spin's time is up.
SpinMore(w) ==
  /\ \/ /\ looks' = [looks EXCEPT ![w] = @ - 1] /\ SetPc(w, "spin_look")
     \/ /\ SetPc(w, "spin_exit") /\ looks' = looks
  /\ UNCHANGED <<fret, fj, nret, cur, sidx, counted, token, spun, key, inj, hint, qclosed, dq,
                 tokens, spinning, alive, waiters, epoch, sdflag, wanted, occ, sdlock,
                 sdidx, joinset, calls, fails, started, jst, runs, late>>

\* spinning_.fetch_sub(1); BUG "nobaton": the baton inside spin_for_job, only here.
SpinExit(w) ==
  /\ spinning' = spinning - 1
  /\ SetPc(w, IF fj[w] = 0 THEN "prep" ELSE IF BUG = "nobaton" THEN "obt_check" ELSE Found(w))
  /\ UNCHANGED <<fret, fj, nret, cur, sidx, counted, token, spun, key, looks, inj, hint, qclosed,
                 dq, tokens, alive, waiters, epoch, sdflag, wanted, occ, sdlock, sdidx,
                 joinset, calls, fails, started, jst, runs, late>>

\* BUG "nobaton": spin_for_job's baton (before 3b1a14d), then worker_main's burn.
OldBatonCheck(w) ==
  LET baton == spinning = 0 /\ WorkVisible IN
  /\ SetPc(w, IF baton THEN "n_load" ELSE Found(w))
  /\ nret' = IF baton THEN [nret EXCEPT ![w] = Found(w)] ELSE nret
  /\ UNCHANGED <<fret, fj, cur, sidx, counted, token, spun, key, looks, inj, hint, qclosed, dq,
                 tokens, spinning, alive, waiters, epoch, sdflag, wanted, occ, sdlock,
                 sdidx, joinset, calls, fails, started, jst, runs, late>>

\* w.token = false; take_idle_token(): burn mine if a push left it.
Burn(w) ==
  /\ token' = [token EXCEPT ![w] = FALSE]
  /\ tokens' = IF tokens > 0 THEN tokens - 1 ELSE 0
  /\ SetPc(w, IF spun[w] /\ BUG # "nobaton" THEN "bt_check" ELSE "exec")
  /\ UNCHANGED <<fret, fj, nret, cur, sidx, counted, spun, key, looks, inj, hint, qclosed, dq,
                 spinning, alive, waiters, epoch, sdflag, wanted, occ, sdlock, sdidx,
                 joinset, calls, fails, started, jst, runs, late>>

\* w.spun = false; the baton (3b1a14d): spinning_.load() == 0 && work_visible() -> notify_one.
BatonCheck(w) ==
  LET baton == spinning = 0 /\ WorkVisible IN
  /\ spun' = [spun EXCEPT ![w] = FALSE]
  /\ SetPc(w, IF baton THEN "n_load" ELSE "exec")
  /\ nret' = IF baton THEN [nret EXCEPT ![w] = "exec"] ELSE nret
  /\ UNCHANGED <<fret, fj, cur, sidx, counted, token, key, looks, inj, hint, qclosed, dq, tokens,
                 spinning, alive, waiters, epoch, sdflag, wanted, occ, sdlock, sdidx,
                 joinset, calls, fails, started, jst, runs, late>>

\* prepare_wait(): waiters_.fetch_add(1), key = epoch_; then the re-check.
Prep(w) ==
  /\ waiters' = waiters + 1 /\ key' = [key EXCEPT ![w] = epoch]
  /\ CallFind(w, "recheck")
  /\ UNCHANGED <<fj, nret, cur, sidx, counted, token, spun, looks, inj, hint, qclosed, dq,
                 tokens, spinning, alive, epoch, sdflag, wanted, occ, sdlock, sdidx,
                 joinset, calls, fails, started, jst, runs, late>>

\* cancel_wait() (the re-check found a job; BUG "doublecancel": also after sd_last's pop).
CancelWait(w) ==
  /\ waiters' = waiters - 1 /\ SetPc(w, Found(w)) /\ key' = [key EXCEPT ![w] = 0]
  /\ UNCHANGED <<fret, fj, nret, cur, sidx, counted, token, spun, looks, inj, hint, qclosed, dq,
                 tokens, spinning, alive, epoch, sdflag, wanted, occ, sdlock, sdidx,
                 joinset, calls, fails, started, jst, runs, late>>

SdCheck(w) ==
  /\ SetPc(w, IF sdflag = 1 THEN "sd_cancel" ELSE "commit")
  /\ UNCHANGED <<fret, fj, nret, cur, sidx, counted, token, spun, key, looks, inj, hint, qclosed,
                 dq, tokens, spinning, alive, waiters, epoch, sdflag, wanted, occ, sdlock,
                 sdidx, joinset, calls, fails, started, jst, runs, late>>

SdCancel(w) ==
  /\ waiters' = waiters - 1 /\ key' = [key EXCEPT ![w] = 0]
  /\ SetPc(w, IF BUG = "shutdownstrand" THEN "exit" ELSE "sd_last")
  /\ UNCHANGED <<fret, fj, nret, cur, sidx, counted, token, spun, looks, inj, hint, qclosed, dq,
                 tokens, spinning, alive, epoch, sdflag, wanted, occ, sdlock, sdidx,
                 joinset, calls, fails, started, jst, runs, late>>

\* The last look under the queue's lock (2e4b443). A job: before 7bf4307 the code fell into the
\* second cancel_wait() (BUG "doublecancel"); main runs it.
SdLast(w) ==
  /\ PopExact(w)
  /\ SetPc(w, IF inj = <<>> THEN "exit" ELSE IF BUG = "doublecancel" THEN "cancel" ELSE Found(w))
  /\ UNCHANGED <<fret, nret, cur, sidx, counted, token, spun, key, looks, qclosed, dq, tokens,
                 spinning, alive, waiters, epoch, sdflag, wanted, occ, sdlock, sdidx,
                 joinset, calls, fails, started, jst, runs, late>>

\* wait_for's loop: epoch_ != key -> woken; else the futex (compare + enqueue).
Commit(w) ==
  /\ SetPc(w, IF epoch # key[w] THEN "withdraw" ELSE "sleeping")
  /\ UNCHANGED <<fret, fj, nret, cur, sidx, counted, token, spun, key, looks, inj, hint, qclosed,
                 dq, tokens, spinning, alive, waiters, epoch, sdflag, wanted, occ, sdlock,
                 sdidx, joinset, calls, fails, started, jst, runs, late>>

\* Woken: withdraw, continue at the top.
Withdraw(w) ==
  /\ waiters' = waiters - 1 /\ CallFind(w, "top") /\ key' = [key EXCEPT ![w] = 0]
  /\ UNCHANGED <<fj, nret, cur, sidx, counted, token, spun, looks, inj, hint, qclosed, dq,
                 tokens, spinning, alive, epoch, sdflag, wanted, occ, sdlock, sdidx,
                 joinset, calls, fails, started, jst, runs, late>>

\* keep_alive expired (not fair: the environment's choice).
Timeout(w) ==
  /\ KeepAlive /\ pc[w] = "sleeping"
  /\ SetPc(w, "to_withdraw")
  /\ UNCHANGED <<fret, fj, nret, cur, sidx, counted, token, spun, key, looks, inj, hint, qclosed,
                 dq, tokens, spinning, alive, waiters, epoch, sdflag, wanted, occ, sdlock,
                 sdidx, joinset, calls, fails, started, jst, runs, late>>

ToWithdraw(w) ==
  /\ waiters' = waiters - 1 /\ SetPc(w, "to_epoch")
  /\ UNCHANGED <<fret, fj, nret, cur, sidx, counted, token, spun, key, looks, inj, hint, qclosed,
                 dq, tokens, spinning, alive, epoch, sdflag, wanted, occ, sdlock, sdidx,
                 joinset, calls, fails, started, jst, runs, late>>

\* wait_for re-reads the epoch after withdrawing: a notify that raced the timeout is "woken".
ToEpoch(w) ==
  /\ SetPc(w, IF epoch # key[w] THEN "f_own" ELSE "r_token")
  /\ fret' = IF epoch # key[w] THEN [fret EXCEPT ![w] = "top"] ELSE fret
  /\ key' = [key EXCEPT ![w] = 0]
  /\ UNCHANGED <<fj, nret, cur, sidx, counted, token, spun, looks, inj, hint, qclosed, dq,
                 tokens, spinning, alive, waiters, epoch, sdflag, wanted, occ, sdlock,
                 sdidx, joinset, calls, fails, started, jst, runs, late>>

\* retire(): take_idle_token(); none -> a push counts on us: stay (continue).
RToken(w) ==
  /\ tokens' = IF tokens > 0 THEN tokens - 1 ELSE tokens
  /\ token' = IF tokens > 0 THEN [token EXCEPT ![w] = FALSE] ELSE token
  /\ SetPc(w, IF tokens > 0 THEN "r_dec" ELSE "f_own")
  /\ fret' = IF tokens > 0 THEN fret ELSE [fret EXCEPT ![w] = "top"]
  /\ UNCHANGED <<fj, nret, cur, sidx, counted, spun, key, looks, inj, hint, qclosed, dq,
                 spinning, alive, waiters, epoch, sdflag, wanted, occ, sdlock, sdidx,
                 joinset, calls, fails, started, jst, runs, late>>

RDec(w) ==
  /\ Unlocked
  /\ alive' = alive - 1 /\ CallFind(w, "retire")
  /\ UNCHANGED <<fj, nret, cur, sidx, counted, token, spun, key, looks, inj, hint, qclosed, dq,
                 tokens, spinning, waiters, epoch, sdflag, wanted, occ, sdlock, sdidx,
                 joinset, calls, fails, started, jst, runs, late>>

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
  /\ UNCHANGED <<fj, nret, cur, sidx, counted, token, spun, key, looks, inj, hint, qclosed, dq,
                 tokens, spinning, waiters, epoch, sdflag, sdlock, sdidx, joinset, calls,
                 fails, started, jst, runs, late>>

\* Job::execute: try_start's CAS QUEUED -> RUNNING, else the entry is discarded.
Exec(w) ==
  LET won == jst[fj[w]] = "queued" IN
  /\ jst' = IF won THEN [jst EXCEPT ![fj[w]] = "running"] ELSE jst
  /\ runs' = IF won THEN [runs EXCEPT ![fj[w]] = 1 + runs[fj[w]]] ELSE runs
  /\ pc' = [pc EXCEPT ![w] = IF won THEN "body" ELSE "f_own"]
  /\ fret' = IF won THEN fret ELSE [fret EXCEPT ![w] = "top"]
  /\ fj' = IF won THEN fj ELSE [fj EXCEPT ![w] = 0]
  /\ UNCHANGED <<nret, cur, sidx, counted, token, spun, key, looks, inj, hint, qclosed, dq,
                 tokens, spinning, alive, waiters, epoch, sdflag, wanted, occ, sdlock,
                 sdidx, joinset, calls, fails, started, late>>

\* The job runs: it submits its child (if any, once), then returns; on_finishing decides
\* (one step: w.token, the own deque's empty_hint, injection_size_) whether to mint first.
Kid(w) == ChildOf[fj[w]]
Body(w) ==
  LET sub == Kid(w) # 0 /\ jst[Kid(w)] = "new"
      mint == ~token[w] /\ dq[w] = <<>> /\ hint <= 0 /\ BUG # "oldtoken" IN
  /\ cur' = IF sub THEN [cur EXCEPT ![w] = Kid(w)] ELSE cur
  /\ SetPc(w, IF sub THEN (IF BUG = "oldtoken" THEN "is_check" ELSE "e_token")
              ELSE IF mint THEN "fin_mint" ELSE "publish")
  /\ UNCHANGED <<fret, fj, nret, sidx, counted, token, spun, key, looks, inj, hint, qclosed, dq,
                 tokens, spinning, alive, waiters, epoch, sdflag, wanted, occ, sdlock,
                 sdidx, joinset, calls, fails, started, jst, runs, late>>

FinMint(w) ==
  /\ token' = [token EXCEPT ![w] = TRUE] /\ tokens' = tokens + 1 /\ SetPc(w, "publish")
  /\ UNCHANGED <<fret, fj, nret, cur, sidx, counted, spun, key, looks, inj, hint, qclosed, dq,
                 spinning, alive, waiters, epoch, sdflag, wanted, occ, sdlock, sdidx,
                 joinset, calls, fails, started, jst, runs, late>>

\* set_value: the outcome is published; back to the top.
Publish(w) ==
  /\ jst' = [jst EXCEPT ![fj[w]] = "done"] /\ CallFind(w, "top")
  /\ fj' = [fj EXCEPT ![w] = 0]
  /\ UNCHANGED <<nret, cur, sidx, counted, token, spun, key, looks, inj, hint, qclosed, dq,
                 tokens, spinning, alive, waiters, epoch, sdflag, wanted, occ, sdlock,
                 sdidx, joinset, calls, fails, started, runs, late>>

\* break; lock; leave_locked().
Exit(w) ==
  /\ Unlocked
  /\ alive' = alive - 1 /\ occ' = [occ EXCEPT ![w] = FALSE] /\ SetPc(w, "absent")
  /\ UNCHANGED <<fret, fj, nret, cur, sidx, counted, token, spun, key, looks, inj, hint, qclosed,
                 dq, tokens, spinning, waiters, epoch, sdflag, wanted, sdlock, sdidx,
                 joinset, calls, fails, started, jst, runs, late>>

-----------------------------------------------------------------------------
\* enqueue (thread t: a submitter, or a worker submitting a child).

\* counted = take_idle_token(), before the push (9d46320).
ETake(t) ==
  /\ counted' = [counted EXCEPT ![t] = tokens > 0]
  /\ tokens' = IF tokens > 0 THEN tokens - 1 ELSE tokens
  /\ SetPc(t, IF IsWorker(t) THEN "is_check" ELSE "s_push")
  /\ UNCHANGED <<fret, fj, nret, cur, sidx, token, spun, key, looks, inj, hint, qclosed, dq,
                 spinning, alive, waiters, epoch, sdflag, wanted, occ, sdlock, sdidx,
                 joinset, calls, fails, started, jst, runs, late>>

\* future.get(): the submitter waits for its last job's outcome (GetEach).
SGet(t) ==
  /\ jst[JobAt(t, sidx[t] - 1)] \in Final
  /\ SetPc(t, SubStart)
  /\ UNCHANGED <<fret, fj, nret, cur, sidx, counted, token, spun, key, looks, inj, hint, qclosed,
                 dq, tokens, spinning, alive, waiters, epoch, sdflag, wanted, occ, sdlock,
                 sdidx, joinset, calls, fails, started, jst, runs, late>>

\* injection_.push: refused (the queue is closed: the job's future gets
\* ExecutorShutdownError, submit throws; a token taken is not given back) or accepted.
SPush(t) ==
  /\ jst' = [jst EXCEPT ![cur[t]] = IF qclosed THEN "refused" ELSE "queued"]
  /\ inj' = IF qclosed THEN inj ELSE Append(inj, cur[t])
  /\ late' = (late \/ (~qclosed /\ \E d \in SDs : pc[d] = "sd_done"))
  /\ SetPc(t, IF qclosed THEN NextSubmit(t) ELSE "s_size")
  /\ sidx' = IF qclosed THEN [sidx EXCEPT ![t] = @ + 1] ELSE sidx
  /\ cur' = IF qclosed THEN [cur EXCEPT ![t] = NextCur(t)] ELSE cur
  /\ counted' = [counted EXCEPT ![t] = IF qclosed THEN FALSE ELSE counted[t]]
  /\ UNCHANGED <<fret, fj, nret, token, spun, key, looks, hint, qclosed, dq, tokens, spinning,
                 alive, waiters, epoch, sdflag, wanted, occ, sdlock, sdidx, joinset, calls,
                 fails, started, runs>>

SSize(t) ==
  /\ hint' = hint + 1 /\ SetPc(t, "ap_spin")
  /\ UNCHANGED <<fret, fj, nret, cur, sidx, counted, token, spun, key, looks, inj, qclosed, dq,
                 tokens, spinning, alive, waiters, epoch, sdflag, wanted, occ, sdlock,
                 sdidx, joinset, calls, fails, started, jst, runs, late>>

\* enqueue from a job: is_shutdown() -> refuse (the child's future gets the error).
IsCheck(w) ==
  /\ jst' = IF sdflag = 1 THEN [jst EXCEPT ![cur[w]] = "refused"] ELSE jst
  /\ SetPc(w, IF sdflag = 1 THEN "body" ELSE "is_push")
  /\ cur' = IF sdflag = 1 THEN [cur EXCEPT ![w] = 0] ELSE cur
  /\ counted' = [counted EXCEPT ![w] = IF sdflag = 1 THEN FALSE ELSE counted[w]]
  /\ UNCHANGED <<fret, fj, nret, sidx, token, spun, key, looks, inj, hint, qclosed, dq, tokens,
                 spinning, alive, waiters, epoch, sdflag, wanted, occ, sdlock, sdidx,
                 joinset, calls, fails, started, runs, late>>

IsPush(w) ==
  /\ dq' = [dq EXCEPT ![w] = Append(@, cur[w])]
  /\ jst' = [jst EXCEPT ![cur[w]] = "queued"]
  /\ SetPc(w, "ap_spin")
  /\ UNCHANGED <<fret, fj, nret, cur, sidx, counted, token, spun, key, looks, inj, hint, qclosed,
                 tokens, spinning, alive, waiters, epoch, sdflag, wanted, occ, sdlock,
                 sdidx, joinset, calls, fails, started, runs, late>>

-----------------------------------------------------------------------------
\* after_push (thread t).

\* Where after_push goes on after its notify decision: counted -> return (BUG "oldtoken":
\* take a token now).
ApAfterSpin(t) == IF BUG = "oldtoken" THEN "ap_token" ELSE IF counted[t] THEN "ap_done" ELSE "ap_alive"
ApSpin(t) ==
  /\ SetPc(t, IF spinning = 0 THEN "n_load" ELSE ApAfterSpin(t))
  /\ nret' = IF spinning = 0 THEN [nret EXCEPT ![t] = ApAfterSpin(t)] ELSE nret
  /\ UNCHANGED <<fret, fj, cur, sidx, counted, token, spun, key, looks, inj, hint, qclosed, dq,
                 tokens, spinning, alive, waiters, epoch, sdflag, wanted, occ, sdlock,
                 sdidx, joinset, calls, fails, started, jst, runs, late>>

\* BUG "oldtoken": take_idle_token() after the push -> done.
ApToken(t) ==
  /\ tokens' = IF tokens > 0 THEN tokens - 1 ELSE tokens
  /\ SetPc(t, IF tokens > 0 THEN "ap_done" ELSE "ap_alive")
  /\ UNCHANGED <<fret, fj, nret, cur, sidx, counted, token, spun, key, looks, inj, hint, qclosed,
                 dq, spinning, alive, waiters, epoch, sdflag, wanted, occ, sdlock, sdidx,
                 joinset, calls, fails, started, jst, runs, late>>

ApAlive(t) ==
  /\ SetPc(t, IF alive < MW THEN "ap_spawn" ELSE "ap_done")
  /\ UNCHANGED <<fret, fj, nret, cur, sidx, counted, token, spun, key, looks, inj, hint, qclosed,
                 dq, tokens, spinning, alive, waiters, epoch, sdflag, wanted, occ, sdlock,
                 sdidx, joinset, calls, fails, started, jst, runs, late>>

FreeSlots == {s \in Slots : ~occ[s]}
NewSlot == Min(FreeSlots)
\* The job the spawner withdraws when the thread cannot be created (none for shutdown()).
Withdrawn(t) == IF t \notin SDs /\ cur[t] # 0 THEN {cur[t]} ELSE {}

\* spawn_locked() under spawn_mu_ (thread t; it goes on at `next`). Every branch sets occ,
\* alive, fret, token, spun, wanted, fails, started, jst and pc (no IF around primed
\* conjunctions: README.md).
SpawnLocked(t, next) ==
  \/ /\ alive >= MW                                     \* enough threads
     /\ SetPc(t, next)
     /\ occ' = occ /\ alive' = alive /\ fret' = fret /\ token' = token /\ spun' = spun
     /\ wanted' = wanted /\ fails' = fails /\ started' = started /\ jst' = jst
  \/ /\ alive < MW /\ FreeSlots = {}                    \* a retiring thread holds the slot
     /\ wanted' = TRUE /\ SetPc(t, next)
     /\ occ' = occ /\ alive' = alive /\ fret' = fret /\ token' = token /\ spun' = spun
     /\ fails' = fails /\ started' = started /\ jst' = jst
  \/ /\ alive < MW /\ FreeSlots # {}                    \* std::thread started; committed
     /\ occ' = [occ EXCEPT ![NewSlot] = TRUE] /\ alive' = alive + 1
     /\ fret' = [fret EXCEPT ![NewSlot] = "top"]
     /\ token' = [token EXCEPT ![NewSlot] = FALSE] /\ spun' = [spun EXCEPT ![NewSlot] = FALSE]
     /\ pc' = [pc EXCEPT ![t] = next, ![NewSlot] = "f_own"]
     /\ started' = started + 1
     /\ wanted' = wanted /\ fails' = fails /\ jst' = jst
  \/ /\ alive < MW /\ FreeSlots # {} /\ fails < Fails   \* std::thread threw
     /\ BUG = "norollback"                              \* the counters stay: a phantom thread
     /\ fails' = fails + 1
     /\ occ' = [occ EXCEPT ![NewSlot] = TRUE] /\ alive' = alive + 1
     /\ SetPc(t, next)
     /\ fret' = fret /\ token' = token /\ spun' = spun /\ wanted' = wanted
     /\ started' = started /\ jst' = jst
  \/ /\ alive < MW /\ FreeSlots # {} /\ fails < Fails   \* std::thread threw
     /\ BUG # "norollback"                              \* the fix: nothing committed
     /\ fails' = fails + 1
     \* after_push withdraws the submitter's job (CAS QUEUED -> failed; a worker that
     \* started it first runs it) and submit throws; shutdown() fails the queued jobs
     /\ jst' = [j \in Jobs |-> IF j \in Withdrawn(t) /\ jst[j] = "queued" THEN "failed" ELSE jst[j]]
     /\ SetPc(t, IF t \in SDs THEN "sd_fq" ELSE next)
     /\ occ' = occ /\ alive' = alive /\ fret' = fret /\ token' = token /\ spun' = spun
     /\ wanted' = wanted /\ started' = started

ApSpawn(t) ==
  /\ Unlocked
  /\ \/ /\ sdflag = 1
        /\ SetPc(t, "ap_done")
        /\ occ' = occ /\ alive' = alive /\ fret' = fret /\ token' = token /\ spun' = spun
        /\ wanted' = wanted /\ fails' = fails /\ started' = started /\ jst' = jst
     \/ /\ sdflag = 0
        /\ SpawnLocked(t, "ap_done")
  /\ UNCHANGED <<fj, nret, cur, sidx, counted, key, looks, inj, hint, qclosed, dq, tokens,
                 spinning, waiters, epoch, sdflag, sdlock, sdidx, joinset, calls, runs,
                 late>>

\* The end of after_push (a control step, kept apart from the spawn's locked step).
ApEnd(t) ==
  /\ ApDone(t)
  /\ UNCHANGED <<fret, fj, nret, token, spun, key, looks, inj, hint, qclosed, dq, tokens,
                 spinning, alive, waiters, epoch, sdflag, wanted, occ, sdlock, sdidx,
                 joinset, calls, fails, started, jst, runs, late>>

-----------------------------------------------------------------------------
\* notify_one / notify_all (thread t; a shutdown caller's is notify_all).

NLoad(t) ==
  /\ SetPc(t, IF waiters = 0 THEN nret[t] ELSE "n_bump")
  /\ nret' = IF waiters = 0 THEN [nret EXCEPT ![t] = "none"] ELSE nret
  /\ UNCHANGED <<fret, fj, cur, sidx, counted, token, spun, key, looks, inj, hint, qclosed, dq,
                 tokens, spinning, alive, waiters, epoch, sdflag, wanted, occ, sdlock,
                 sdidx, joinset, calls, fails, started, jst, runs, late>>

NBump(t) ==
  /\ epoch' = epoch + 1 /\ SetPc(t, "n_wake")
  /\ UNCHANGED <<fret, fj, nret, cur, sidx, counted, token, spun, key, looks, inj, hint, qclosed,
                 dq, tokens, spinning, alive, waiters, sdflag, wanted, occ, sdlock, sdidx,
                 joinset, calls, fails, started, jst, runs, late>>

Sleepers == {w \in Slots : pc[w] = "sleeping"}

NWake(t) ==
  /\ \/ /\ t \in SDs
        /\ pc' = [x \in Threads |-> IF x = t THEN nret[t]
                                    ELSE IF x \in Sleepers THEN "commit" ELSE pc[x]]
     \/ /\ t \notin SDs /\ Sleepers = {}
        /\ SetPc(t, nret[t])
     \/ /\ t \notin SDs
        /\ \E w \in Sleepers : pc' = [pc EXCEPT ![t] = nret[t], ![w] = "commit"]
  /\ nret' = [nret EXCEPT ![t] = "none"]
  /\ UNCHANGED <<fret, fj, cur, sidx, counted, token, spun, key, looks, inj, hint, qclosed, dq,
                 tokens, spinning, alive, waiters, epoch, sdflag, wanted, occ, sdlock,
                 sdidx, joinset, calls, fails, started, jst, runs, late>>

-----------------------------------------------------------------------------
\* shutdown(Wait[d], Cancel[d]) (thread d).

\* ShutdownCall (++shutdown_calls_); lock spawn_mu_; injection_.close() (BUG
\* "shutdownstrand": the flag first).
SdStart(d) ==
  /\ Unlocked
  /\ calls' = calls + 1
  /\ sdlock' = TRUE
  /\ sdflag' = IF BUG = "shutdownstrand" THEN 1 ELSE sdflag
  /\ qclosed' = IF BUG = "shutdownstrand" THEN qclosed ELSE TRUE
  /\ SetPc(d, IF BUG = "shutdownstrand" THEN "sd_close" ELSE "sd_flag")
  /\ UNCHANGED <<fret, fj, nret, cur, sidx, counted, token, spun, key, looks, inj, hint, dq,
                 tokens, spinning, alive, waiters, epoch, wanted, occ, sdidx, joinset,
                 fails, started, jst, runs, late>>

SdFlag(d) ==
  /\ sdflag' = 1 /\ SetPc(d, "sd_drain")
  /\ UNCHANGED <<fret, fj, nret, cur, sidx, counted, token, spun, key, looks, inj, hint, qclosed,
                 dq, tokens, spinning, alive, waiters, epoch, wanted, occ, sdlock, sdidx,
                 joinset, calls, fails, started, jst, runs, late>>

AfterLock(d) == IF CancelOf(d) THEN "sd_cq" ELSE "n_load"
SdNret(d) == IF WaitOf(d) THEN "sd_collect" ELSE "sd_leave"

\* BUG "shutdownstrand": injection_.close(), unlock.
SdClose(d) ==
  /\ qclosed' = TRUE /\ sdlock' = FALSE
  /\ SetPc(d, AfterLock(d)) /\ nret' = [nret EXCEPT ![d] = SdNret(d)]
  /\ UNCHANGED <<fret, fj, cur, sidx, counted, token, spun, key, looks, inj, hint, dq, tokens,
                 spinning, alive, waiters, epoch, sdflag, wanted, occ, sdidx, joinset,
                 calls, fails, started, jst, runs, late>>

\* alive_ == 0 && !consumer_sees_empty() -> spawn_locked(); unlock.
SdDrain(d) ==
  /\ sdlock' = FALSE
  /\ nret' = [nret EXCEPT ![d] = SdNret(d)]
  /\ \/ /\ alive = 0 /\ inj # <<>>
        /\ SpawnLocked(d, AfterLock(d))
     \/ /\ ~(alive = 0 /\ inj # <<>>)
        /\ SetPc(d, AfterLock(d))
        /\ occ' = occ /\ alive' = alive /\ fret' = fret /\ token' = token /\ spun' = spun
        /\ wanted' = wanted /\ fails' = fails /\ started' = started /\ jst' = jst
  /\ UNCHANGED <<fj, cur, sidx, counted, key, looks, inj, hint, qclosed, dq, tokens, spinning,
                 waiters, epoch, sdflag, sdidx, joinset, calls, runs, late>>

\* cancel_queued() ("sd_cq") and, after a failed draining spawn, fail_queued() ("sd_fq"):
\* each entry popped (the injection queue) or stolen (slot by slot), ended if it is still
\* QUEUED (Job::cancel's / withdraw's CAS: cancelled / failed), and discarded.
EndIt(j, how) == [jst EXCEPT ![j] = IF jst[j] = "queued" THEN how ELSE jst[j]]
SdDiscard(d, how, then) ==
  /\ \/ /\ sdidx[d] = 0 /\ inj # <<>>
        /\ inj' = Tail(inj) /\ hint' = hint - 1 /\ jst' = EndIt(Head(inj), how)
        /\ dq' = dq /\ sdidx' = sdidx /\ pc' = pc
     \/ /\ sdidx[d] = 0 /\ inj = <<>>
        /\ sdidx' = [sdidx EXCEPT ![d] = 1] /\ inj' = inj /\ hint' = hint /\ dq' = dq /\ jst' = jst /\ pc' = pc
     \/ /\ sdidx[d] \in Slots /\ dq[sdidx[d]] # <<>>
        /\ dq' = [dq EXCEPT ![sdidx[d]] = Tail(dq[sdidx[d]])] /\ jst' = EndIt(Head(dq[sdidx[d]]), how)
        /\ inj' = inj /\ hint' = hint /\ sdidx' = sdidx /\ pc' = pc
     \/ /\ sdidx[d] \in Slots /\ dq[sdidx[d]] = <<>>
        /\ sdidx' = [sdidx EXCEPT ![d] = sdidx[d] + 1] /\ inj' = inj /\ hint' = hint /\ dq' = dq /\ jst' = jst /\ pc' = pc
     \/ /\ sdidx[d] = MW + 1
        /\ SetPc(d, then) /\ sdidx' = [sdidx EXCEPT ![d] = 0] /\ inj' = inj /\ hint' = hint /\ dq' = dq /\ jst' = jst
  /\ UNCHANGED <<fret, fj, nret, cur, sidx, counted, token, spun, key, looks, qclosed, tokens,
                 spinning, alive, waiters, epoch, sdflag, wanted, occ, sdlock, joinset,
                 calls, fails, started, runs, late>>
SdCq(d) == SdDiscard(d, "cancelled", "n_load")
SdFq(d) == SdDiscard(d, "failed", AfterLock(d))

\* Lock; move out the joinable threads no other call has moved out (a thread that ended is
\* joined at once, so only the live ones matter).
SdCollect(d) ==
  /\ Unlocked
  /\ joinset' = [joinset EXCEPT ![d] =
                   {s \in Slots : pc[s] # "absent" /\ \A e \in SDs \ {d} : s \notin joinset[e]}]
  /\ SetPc(d, "sd_join")
  /\ UNCHANGED <<fret, fj, nret, cur, sidx, counted, token, spun, key, looks, inj, hint, qclosed,
                 dq, tokens, spinning, alive, waiters, epoch, sdflag, wanted, occ, sdlock,
                 sdidx, calls, fails, started, jst, runs, late>>

SdJoin(d) ==
  /\ \A s \in joinset[d] : pc[s] = "absent"
  /\ SetPc(d, "sd_leave")
  /\ UNCHANGED <<fret, fj, nret, cur, sidx, counted, token, spun, key, looks, inj, hint, qclosed,
                 dq, tokens, spinning, alive, waiters, epoch, sdflag, wanted, occ, sdlock,
                 sdidx, joinset, calls, fails, started, jst, runs, late>>

\* ShutdownCall::leave: lock; --shutdown_calls_; a wait=true call then waits for 0 (BUG
\* "nocallwait": it returns at once).
SdLeave(d) ==
  /\ Unlocked
  /\ calls' = calls - 1
  /\ SetPc(d, IF WaitOf(d) /\ BUG # "nocallwait" THEN "sd_wait" ELSE "sd_done")
  /\ UNCHANGED <<fret, fj, nret, cur, sidx, counted, token, spun, key, looks, inj, hint, qclosed,
                 dq, tokens, spinning, alive, waiters, epoch, sdflag, wanted, occ, sdlock,
                 sdidx, joinset, fails, started, jst, runs, late>>

SdWait(d) ==
  /\ Unlocked /\ calls = 0
  /\ SetPc(d, "sd_done")
  /\ UNCHANGED <<fret, fj, nret, cur, sidx, counted, token, spun, key, looks, inj, hint, qclosed,
                 dq, tokens, spinning, alive, waiters, epoch, sdflag, wanted, occ, sdlock,
                 sdidx, joinset, calls, fails, started, jst, runs, late>>

-----------------------------------------------------------------------------
\* Dispatch: one action per thread and label.

Thread(t) ==
  CASE pc[t] = "f_own"       -> FOwn(t)
    [] pc[t] = "f_steal"     -> FSteal(t)
    [] pc[t] = "f_hint"      -> FHint(t)
    [] pc[t] = "f_inj"       -> FInj(t)
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
    [] pc[t] = "fin_mint"    -> FinMint(t)
    [] pc[t] = "publish"     -> Publish(t)
    [] pc[t] = "exit"        -> Exit(t)
    [] pc[t] = "e_token"     -> ETake(t)
    [] pc[t] = "s_get"       -> SGet(t)
    [] pc[t] = "is_check"    -> IsCheck(t)
    [] pc[t] = "is_push"     -> IsPush(t)
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
    [] pc[t] = "sd_start"    -> SdStart(t)
    [] pc[t] = "sd_flag"     -> SdFlag(t)
    [] pc[t] = "sd_close"    -> SdClose(t)
    [] pc[t] = "sd_drain"    -> SdDrain(t)
    [] pc[t] = "sd_fq"       -> SdFq(t)
    [] pc[t] = "sd_cq"       -> SdCq(t)
    [] pc[t] = "sd_collect"  -> SdCollect(t)
    [] pc[t] = "sd_join"     -> SdJoin(t)
    [] pc[t] = "sd_leave"    -> SdLeave(t)
    [] pc[t] = "sd_wait"     -> SdWait(t)
    [] OTHER                 -> FALSE   \* absent, sleeping, s_done, sd_done

-----------------------------------------------------------------------------
\* The end: every submitter done, every shutdown call returned, every worker gone or asleep.
SubsDone == \A t \in Subs : pc[t] = "s_done"
SdEnded == \A d \in SDs : pc[d] = "sd_done"
Quiet == SubsDone /\ SdEnded /\ \A w \in Slots : pc[w] \in {"absent", "sleeping"}
Terminating == Quiet /\ UNCHANGED vars

Next == (\E t \in Threads : Thread(t)) \/ (\E w \in Slots : Timeout(w)) \/ Terminating

Spec == Init /\ [][Next]_vars /\ \A t \in Threads : WF_vars(Thread(t))

-----------------------------------------------------------------------------
\* INVARIANTS

WorkerPcs == {"absent", "f_own", "f_steal", "f_hint", "f_inj", "mint", "spin_enter", "spin_look",
              "spin_more", "spin_exit", "obt_check", "burn", "bt_check", "prep", "cancel",
              "sd_check", "sd_cancel", "sd_last", "commit", "sleeping", "withdraw", "to_withdraw",
              "to_epoch", "r_token", "r_dec", "r_decide", "exec", "body", "fin_mint", "publish",
              "e_token", "is_check", "is_push", "exit", "ap_spin", "ap_token", "ap_alive",
              "ap_spawn", "ap_done", "n_load", "n_bump", "n_wake"}
SubPcs == {"e_token", "s_get", "s_push", "s_size", "s_done", "ap_spin", "ap_token", "ap_alive",
           "ap_spawn", "ap_done", "n_load", "n_bump", "n_wake"}
SdPcs == {"sd_start", "sd_flag", "sd_close", "sd_drain", "sd_fq", "sd_cq", "n_load", "n_bump",
          "n_wake", "sd_collect", "sd_join", "sd_leave", "sd_wait", "sd_done"}

TypeOK ==
  /\ \A w \in Slots : pc[w] \in WorkerPcs /\ fj[w] \in 0..NJ /\ token[w] \in BOOLEAN /\ spun[w] \in BOOLEAN
  /\ \A t \in Subs : pc[t] \in SubPcs
  /\ \A d \in SDs : pc[d] \in SdPcs
  /\ \A j \in Jobs : jst[j] \in {"new", "queued", "running"} \cup Final /\ runs[j] \in 0..1
  /\ tokens \in 0..MW /\ spinning \in 0..MaxSpin /\ waiters \in 0..MW /\ hint \in -S..NJ
  /\ sdflag \in 0..1 /\ fails \in 0..Fails /\ calls \in 0..ND

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

\* shutdown(wait=true) returns only after every accepted job finished and every thread ended
\* (whichever concurrent call returns).
ShutdownWaitComplete ==
  \A d \in SDs : (WaitOf(d) /\ pc[d] = "sd_done") =>
     /\ \A j \in Jobs : jst[j] \notin {"queued", "running"}
     /\ \A w \in Slots : pc[w] = "absent"

\* A submit that began after a shutdown() call returned is refused.
RefusedAfterShutdown == ~late

\* Thread counts: alive_ counts exactly the threads holding a slot and not retiring; no
\* more than max_workers; a slot is occupied iff a thread holds it.
Retiring(w) == (pc[w] \in {"f_own", "f_steal", "f_hint", "f_inj"} /\ fret[w] = "retire") \/ pc[w] = "r_decide"
Counted == {w \in Slots : pc[w] # "absent" /\ ~Retiring(w)}
ThreadCounts ==
  /\ alive = Cardinality(Counted) /\ alive <= MW
  /\ \A s \in Slots : occ[s] <=> pc[s] # "absent"

\* Idle tokens never exceed the workers holding one (Worker::token: idle, or finishing a job
\* with nothing else seen) while the pool is open (docs/executor.md; a worker leaving on
\* shutdown keeps its token: no accepted submit can count on it any more).
TokensLeIdle == sdflag = 0 => tokens <= Cardinality({w \in Slots : token[w] /\ pc[w] # "absent"})

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
\* or running a job, a submitter between submits, a shutdown call not inside a step.
SettledThread(t) ==
  IF t \in Slots THEN pc[t] \in {"absent", "sleeping", "body"}
  ELSE IF t \in Subs THEN pc[t] \in {SubStart, "s_get", "s_done"}
  ELSE pc[t] \in {"sd_start", "sd_join", "sd_wait", "sd_done"}
QueuedWork == \E j \in Jobs : jst[j] = "queued" /\ (j \in InInj \/ j \in InDeques)
NoSleeperWhileWorkVisible ==
  ((\A t \in Threads : SettledThread(t)) /\ Sleepers # {}) => ~QueuedWork

\* Once a shutdown call's notify_all has returned, no worker sleeps in the futex (it was
\* woken, or it sees the new epoch or the flag). Fails with BUG "doublecancel": the
\* undercounted waiters_ reads 0 and notify_all skips a sleeper, which then sleeps until its
\* keep_alive expires while shutdown(true) joins it.
PastNotify == {"sd_collect", "sd_join", "sd_leave", "sd_wait", "sd_done"}
NoSleeperAfterShutdownNotify == (\E d \in SDs : pc[d] \in PastNotify) => Sleepers = {}

\* Back-to-back submit().get() (GetEach, one submitter, no failure, no retirement) starts one
\* thread (issue 10; fails with BUG "oldtoken").
AtMostOneThreadStarted == started <= 1

\* A schedule for the burst models (CONSTRAINT: the states explored are a subset of the
\* reachable ones, so a violation found under it is a real trace): once job 3 is pushed,
\* worker 2 stays asleep -- the shape of the burst.
BurstSchedule == (MW >= 2 /\ NJ >= 3 /\ jst[3] # "new") => pc[2] = "sleeping"
\* ThreadPoolDoubleCancelHang.cfg: the burst's schedule, and no shutdown() call starts before
\* job 3 is pushed (a subset of the behaviours again: a violation found is real).
HangSchedule == /\ BurstSchedule
                /\ (NJ >= 3 /\ jst[3] = "new") => \A d \in SDs : pc[d] = "sd_start"

\* COVERAGE (each must FAIL in the model named: the behaviour is reachable).
CovNoSpinFind == ~\E w \in Slots : pc[w] = "spin_exit" /\ fj[w] # 0
CovNoBatonWake == ~\E w \in Slots : pc[w] = "n_wake" /\ nret[w] = "exec"
CovNoWake == ~\E w \in Slots : pc[w] = "withdraw"
CovNoDrainSpawn == ~\E d \in SDs : pc[d] = "sd_drain" /\ alive = 0 /\ inj # <<>>
CovNoRefused == \A j \in Jobs : jst[j] # "refused"
CovNoFailed == \A j \in Jobs : jst[j] # "failed"
CovNoFinMint == ~\E w \in Slots : pc[w] = "fin_mint"
CovNoCountedSubmit == ~\E t \in Threads : counted[t]
CovNoRetire == \A w \in Slots : pc[w] # "r_decide" \/ fj[w] # 0 \/ wanted \/ sdflag = 1
CovNoCancelled == \A j \in Jobs : jst[j] # "cancelled"
CovNoCallWait == ~\E d \in SDs : pc[d] = "sd_wait" /\ calls > 0

\* LIVENESS (weak fairness of every thread's own steps; keep_alive timeouts are not fair).
EveryJobSettles == \A j \in Jobs : <>Settled(j)
ShutdownReturns == \A d \in SDs : <>(pc[d] = "sd_done")
AllThreadsEnd == <>(\A w \in Slots : pc[w] = "absent")
=============================================================================
