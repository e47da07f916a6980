------------------------------- MODULE Parking -------------------------------
\* Parking idle workers with the event count of primitives/event_count.hpp (EventCount):
\* W workers take jobs from a shared queue and park when it is empty (prepare_wait ->
\* re-check the queue -> cancel_wait or wait(k)); one submitter pushes J jobs, each push
\* followed by notify_one(). Action by action, the caller's half of the protocol included.
\*
\* ACTION <-> CODE (primitives/event_count.hpp as reviewed)
\*  worker w (loops forever):
\*   take       the caller: try_take_work()   pop a job (one atomic step); Empty -> prepare
\*   prepare    prepare_wait() L184           waiters_.fetch_add(1, seq_cst)
\*   prep_epoch prepare_wait() L186           k = epoch_.load(acquire)
\*   recheck    the caller: work_visible()    seq_cst load of the queue: work -> cancel
\*   cancel     cancel_wait() L192            waiters_.fetch_sub(1, seq_cst); back to take
\*   commit     commit() L250                 epoch_.load() != k -> woken (withdraw)
\*   futex      commit() L262                 sync::wait(epoch_, k): the kernel compares
\*                                            epoch_ == k and enqueues atomically w.r.t. wake
\*   sleeping   (in the futex)                until a wake_one picks this thread -> commit
\*   withdraw   commit() L265                 waiters_.fetch_sub(1, seq_cst); back to take
\*  submitter (J jobs):
\*   push       the caller: publish the job   queue push (seq_cst RMW)
\*   ntf_load   notify() L285                 waiters_.load(seq_cst) == 0 -> return
\*   ntf_bump   notify() L288                 epoch_.fetch_add(1, release)
\*   ntf_wake   notify() L292                 sync::wake_one(epoch_): wakes one thread that
\*                                            sleeps in the futex, if any
\*
\* ABSTRACTIONS (read before trusting a green run)
\*  * Sequentially consistent memory (Relacy checks the real orders; the mutant
\*    HANDOFF_MUTANT_EC_NOTIFY_RELAXED is invisible under SC).
\*  * The queue is a counter of identical jobs (its own linearizability is not at stake).
\*  * No spurious futex returns, no wait_for / timeouts, no notify_all, no epoch wrap; the
\*    statistics are not modelled. A spurious return would only re-run the commit loop.
\*  * Workers never exit: the end is every worker asleep in the futex with the queue empty
\*    (Idle, the Terminating stutter); any other state without successors is a deadlock.
\*
\* BUG (separate cfgs):
\*  "norecheck"  = HANDOFF_MUTANT_EC_NO_RECHECK, the caller's bug: commit right after
\*                 prepare_wait without re-checking the queue (a lost wakeup);
\*  "nobump"     notify wakes one sleeper without bumping the epoch: a worker between
\*               prepare_wait and the futex compare misses the notify (a lost wakeup);
\*  "epochfirst" NOT a bug: prepare_wait reads the epoch before announcing, which the header
\*               says "would also be correct (the re-check covers it)". Expected: ok.
\*
\* Single module on purpose (tla-checker ignores EXTENDS of user modules).

EXTENDS Naturals, FiniteSets

CONSTANTS
  W,    \* workers
  J,    \* jobs the submitter pushes
  BUG   \* "none" | "norecheck" | "nobump" | "epochfirst"

ASSUME W \in 1..4 /\ J \in 1..4 /\ BUG \in {"none", "norecheck", "nobump", "epochfirst"}

Workers == 1..W

VARIABLES
  q,        \* jobs queued
  ran,      \* jobs taken (and run)
  waiters,  \* EventCount::waiters_
  epoch,    \* EventCount::epoch_ (the futex word)
  pc,       \* worker pc
  key,      \* key[w]: the Key of w's prepare_wait()
  spc,      \* submitter pc
  pushed    \* jobs pushed

vars == <<q, ran, waiters, epoch, pc, key, spc, pushed>>

Init ==
  /\ q = 0 /\ ran = 0 /\ waiters = 0 /\ epoch = 0
  /\ pc = [w \in Workers |-> "take"]
  /\ key = [w \in Workers |-> 0]
  /\ spc = "push" /\ pushed = 0

-----------------------------------------------------------------------------
\* Workers.

Take(w) ==
  /\ IF q > 0
       THEN /\ q' = q - 1
            /\ ran' = ran + 1
            /\ UNCHANGED pc                 \* run it, then try again
       ELSE /\ pc' = [pc EXCEPT ![w] = IF BUG = "epochfirst" THEN "prep_epoch" ELSE "prepare"]
            /\ UNCHANGED <<q, ran>>
  /\ UNCHANGED <<waiters, epoch, key, spc, pushed>>

\* waiters_.fetch_add(1)   (BUG epochfirst: after the epoch load)
Prepare(w) ==
  /\ waiters' = waiters + 1
  /\ pc' = [pc EXCEPT ![w] = IF BUG = "epochfirst" THEN "recheck" ELSE "prep_epoch"]
  /\ UNCHANGED <<q, ran, epoch, key, spc, pushed>>

\* k = epoch_.load()   (BUG norecheck: commit at once; BUG epochfirst: before announcing)
PrepEpoch(w) ==
  /\ key' = [key EXCEPT ![w] = epoch]
  /\ pc' = [pc EXCEPT ![w] = CASE BUG = "norecheck"  -> "commit"
                               [] BUG = "epochfirst" -> "prepare"
                               [] OTHER              -> "recheck"]
  /\ UNCHANGED <<q, ran, waiters, epoch, spc, pushed>>

\* The caller's re-check of the queue (seq_cst load): work -> cancel_wait, else wait(k).
Recheck(w) ==
  /\ pc' = [pc EXCEPT ![w] = IF q > 0 THEN "cancel" ELSE "commit"]
  /\ UNCHANGED <<q, ran, waiters, epoch, key, spc, pushed>>

\* cancel_wait(): waiters_.fetch_sub(1); withdraw after a wait returned: the same.
Withdraw(w) ==
  /\ waiters' = waiters - 1
  /\ pc' = [pc EXCEPT ![w] = "take"]
  /\ UNCHANGED <<q, ran, epoch, key, spc, pushed>>

\* commit() loop: epoch_.load() != k -> woken
Commit(w) ==
  /\ pc' = [pc EXCEPT ![w] = IF epoch # key[w] THEN "withdraw" ELSE "futex"]
  /\ UNCHANGED <<q, ran, waiters, epoch, key, spc, pushed>>

\* sync::wait(epoch_, k): returns at once if epoch_ != k, else sleeps (atomically w.r.t. wake)
Futex(w) ==
  /\ pc' = [pc EXCEPT ![w] = IF epoch # key[w] THEN "commit" ELSE "sleeping"]
  /\ UNCHANGED <<q, ran, waiters, epoch, key, spc, pushed>>

Worker(w) ==
  CASE pc[w] = "take"       -> Take(w)
    [] pc[w] = "prepare"    -> Prepare(w)
    [] pc[w] = "prep_epoch" -> PrepEpoch(w)
    [] pc[w] = "recheck"    -> Recheck(w)
    [] pc[w] = "cancel"     -> Withdraw(w)
    [] pc[w] = "commit"     -> Commit(w)
    [] pc[w] = "futex"      -> Futex(w)
    [] pc[w] = "withdraw"   -> Withdraw(w)
    [] OTHER                -> FALSE          \* "sleeping": only a wake moves it

-----------------------------------------------------------------------------
\* The submitter: push, then notify_one().

AfterNotify == IF pushed < J THEN "push" ELSE "done"

Push ==
  /\ spc = "push"
  /\ q' = q + 1
  /\ pushed' = pushed + 1
  /\ spc' = "ntf_load"
  /\ UNCHANGED <<ran, waiters, epoch, pc, key>>

NtfLoad ==
  /\ spc = "ntf_load"
  /\ spc' = IF waiters = 0 THEN AfterNotify
            ELSE IF BUG = "nobump" THEN "ntf_wake" ELSE "ntf_bump"
  /\ UNCHANGED <<q, ran, waiters, epoch, pc, key, pushed>>

NtfBump ==
  /\ spc = "ntf_bump"
  /\ epoch' = epoch + 1
  /\ spc' = "ntf_wake"
  /\ UNCHANGED <<q, ran, waiters, pc, key, pushed>>

\* wake_one: one thread sleeping in the futex (any of them), or nobody.
NtfWake ==
  /\ spc = "ntf_wake"
  /\ IF \E w \in Workers : pc[w] = "sleeping"
       THEN \E w \in Workers : /\ pc[w] = "sleeping"
                               /\ pc' = [pc EXCEPT ![w] = "commit"]
       ELSE UNCHANGED pc
  /\ spc' = AfterNotify
  /\ UNCHANGED <<q, ran, waiters, epoch, key, pushed>>

Submitter == Push \/ NtfLoad \/ NtfBump \/ NtfWake

-----------------------------------------------------------------------------
\* The idle end: every job pushed and run, every worker asleep in the futex.
Idle == spc = "done" /\ q = 0 /\ \A w \in Workers : pc[w] = "sleeping"
Terminating == Idle /\ UNCHANGED vars

Next == Submitter \/ (\E w \in Workers : Worker(w)) \/ Terminating

Spec == Init /\ [][Next]_vars /\ WF_vars(Submitter) /\ \A w \in Workers : WF_vars(Worker(w))

-----------------------------------------------------------------------------
\* INVARIANTS

Labels == {"take", "prepare", "prep_epoch", "recheck", "cancel", "commit", "futex",
           "sleeping", "withdraw"}

TypeOK ==
  /\ q \in 0..J /\ ran \in 0..J /\ pushed \in 0..J /\ q + ran = pushed
  /\ waiters \in 0..W /\ epoch \in 0..J
  /\ \A w \in Workers : pc[w] \in Labels /\ key[w] \in 0..J
  /\ spc \in {"push", "ntf_load", "ntf_bump", "ntf_wake", "done"}

\* waiters_ counts exactly the workers between prepare_wait and their withdrawal.
Announced == {w \in Workers : pc[w] \in {"recheck", "cancel", "commit", "futex", "sleeping", "withdraw"}
                               \/ (pc[w] = "prep_epoch" /\ BUG # "epochfirst")}
WaitersExact == waiters = Cardinality(Announced)

\* No lost wakeup: never every worker asleep in the futex while a job is queued, once the
\* submitter is not inside a push/notify (its notify for the last push has been made).
NoStrandedJob ==
  (spc \in {"push", "done"} /\ q > 0) => \E w \in Workers : pc[w] # "sleeping"

\* LIVENESS (weak fairness of the submitter and of every worker, Spec). Stable predicates.
EveryJobRuns == <>(ran = J)
EndsIdle     == <>(spc = "done" /\ ran = J)
=============================================================================
