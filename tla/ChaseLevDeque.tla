---------------------------- MODULE ChaseLevDeque ----------------------------
\* The Chase-Lev work-stealing deque of primitives/work_stealing_deque.hpp (Chase and Lev,
\* SPAA 2005; the orders of Le, Pop, Cohen and Zappa Nardelli, PPoPP 2013), at the level of
\* its atomic operations, with the growable circular buffer (grow() and the retired buffers
\* that a thief may still read).
\*
\* ACTION <-> CODE (primitives/work_stealing_deque.hpp as reviewed)
\*  owner (one thread; any sequence of push/pop, Pushes pushes in all, then pop until empty):
\*   push_load  push() L148-153   b = bottom_ (owner-private); t = top_.load(acquire);
\*                                if b - t >= capacity: grow() L261-276 (copy [t, b) into a
\*                                buffer of twice the capacity, retire the old one, publish it
\*                                with buffer_.store(release)) -- the copy is into a buffer
\*                                nobody else can see yet, so copy + publish is one step
\*   push_write push() L154       a->slot(b).store(v)
\*   push_pub   push() L157       bottom_.store(b + 1)
\*   pop_res    pop() L163-170    b = bottom_ - 1; bottom_.store(b, seq_cst) (the reservation)
\*   pop_top    pop() L173-184    t = top_.load(seq_cst); t > b: empty (restore);
\*                                x = a->slot(b) (owner-written, thieves never write slots);
\*                                t < b: return x; t == b: the last element, CAS
\*   pop_cas    pop() L188-189    top_.compare_exchange_strong(t, t + 1)
\*   pop_restore pop() L176 / L191 bottom_.store(b + 1); return x if the CAS won, else nullopt
\*  thief th (NT threads, Steals calls of steal() each):
\*   st_top     steal() L201      t = top_.load(seq_cst)
\*   st_bot     steal() L204-205  b = bottom_.load(seq_cst); t >= b: Empty
\*   st_buf     steal() L207      a = buffer_.load(acquire)  (may be a buffer retired later)
\*   st_read    steal() L209      x = a->slot(t).load(relaxed)
\*   st_cas     steal() L212-217  top_.compare_exchange_strong(t, t + 1): Success (x) or Retry
\*
\* ABSTRACTIONS (read before trusting a green run)
\*  * Sequentially consistent memory: every atomic operation is one step in one total
\*    order. The header's orders (seq_cst Dekker pair of pop/steal, acquire/release for the
\*    slots and the buffer) are checked by Relacy/TSan, not here; HANDOFF_MUTANT_DEQUE_RELAXED
\*    is invisible under SC.
\*  * Values are element ids 1..Pushes (each pushed once); 0 is a slot never written.
\*    Indices are unbounded in the code but bounded here by Pushes.
\*  * Owner-private loads (bottom_, buffer_ in push/pop) are merged with the next step.
\*
\* BUG: "nolastcas" = HANDOFF_MUTANT_DEQUE_NO_LAST_CAS (pop takes the last element without
\* the CAS on top_, and returns without restoring bottom_): a duplicate take.
\*
\* Single module on purpose (tla-checker ignores EXTENDS of user modules).

EXTENDS Integers, Sequences

CONSTANTS
  Pushes,  \* elements the owner pushes (ids 1..Pushes)
  NT,      \* thieves
  Steals,  \* steal() calls per thief
  Cap0,    \* the initial capacity (a power of two >= 2)
  BUG      \* "none" | "nolastcas"

ASSUME /\ Pushes \in 1..5 /\ NT \in 1..3 /\ Steals \in 1..3 /\ Cap0 \in {2, 4}
       /\ BUG \in {"none", "nolastcas"}

Thieves == 1..NT
Elems == 1..Pushes

VARIABLES
  top,       \* top_
  bottom,    \* bottom_
  bufs,      \* every buffer ever allocated (retired ones are kept): bufs[i][s] = slot s
  cur,       \* buffer_: the index in bufs of the current buffer
  opc,       \* owner pc
  ob, ot,    \* owner locals b, t
  ox,        \* owner local x (the value read in pop)
  owon,      \* pop(): the CAS on top_ won
  np,        \* elements pushed so far (the next one is np + 1)
  tpc,       \* thief pc
  tt, tb,    \* thief locals t, b
  ta,        \* thief local a (index into bufs)
  tx,        \* thief local x
  ns,        \* steal() calls finished per thief
  \* --- ghost
  elemAt,    \* elemAt[i]: the element pushed at index i, most recently (0: none yet)
  taken,     \* taken[e]: how many times element e was taken (pop or steal)
  wrongRead  \* some successful take returned something else than the element at its index

vars == <<top, bottom, bufs, cur, opc, ob, ot, ox, owon, np, tpc, tt, tb, ta, tx, ns,
          elemAt, taken, wrongRead>>

Cap(a) == Len(bufs[a])                       \* bufs[a] is a sequence: slot s is bufs[a][s + 1]
Slot(a, i) == bufs[a][(i % Cap(a)) + 1]
MaxIdx == Pushes                            \* indices 0..Pushes - 1; top, bottom in 0..Pushes

Init ==
  /\ top = 0 /\ bottom = 0
  /\ bufs = << [s \in 1..Cap0 |-> 0] >>
  /\ cur = 1
  /\ opc = "idle" /\ ob = 0 /\ ot = 0 /\ ox = 0 /\ owon = FALSE /\ np = 0
  /\ tpc = [th \in Thieves |-> "st_top"]
  /\ tt = [th \in Thieves |-> 0] /\ tb = [th \in Thieves |-> 0]
  /\ ta = [th \in Thieves |-> 1] /\ tx = [th \in Thieves |-> 0]
  /\ ns = [th \in Thieves |-> 0]
  /\ elemAt = [i \in 0..MaxIdx |-> 0]
  /\ taken = [e \in Elems |-> 0]
  /\ wrongRead = FALSE

\* A successful take of value x at index i.
Take(x, i) ==
  /\ taken' = IF x \in Elems THEN [taken EXCEPT ![x] = @ + 1] ELSE taken
  /\ wrongRead' = (wrongRead \/ x # elemAt[i])

-----------------------------------------------------------------------------
\* The owner.

\* push(): b = bottom_; t = top_.load(acquire); grow if full (copy [t, b), publish).
PushLoad ==
  /\ opc = "idle" /\ np < Pushes
  /\ ob' = bottom /\ ot' = top
  /\ IF bottom - top >= Cap(cur)
       THEN LET nc == 2 * Cap(cur)
                nb == [s \in 1..nc |->
                         IF \E i \in top..(bottom - 1) : (i % nc) + 1 = s
                           THEN Slot(cur, CHOOSE i \in top..(bottom - 1) : (i % nc) + 1 = s)
                           ELSE 0] IN
            /\ bufs' = Append(bufs, nb)
            /\ cur' = Len(bufs) + 1
       ELSE UNCHANGED <<bufs, cur>>
  /\ opc' = "push_write"
  /\ UNCHANGED <<top, bottom, ox, owon, np, tpc, tt, tb, ta, tx, ns, elemAt, taken, wrongRead>>

\* a->slot(b).store(v)
PushWrite ==
  /\ bufs' = [bufs EXCEPT ![cur][(ob % Cap(cur)) + 1] = np + 1]
  /\ elemAt' = [elemAt EXCEPT ![ob] = np + 1]
  /\ opc' = "push_pub"
  /\ UNCHANGED <<top, bottom, cur, ob, ot, ox, owon, np, tpc, tt, tb, ta, tx, ns, taken, wrongRead>>

\* bottom_.store(b + 1, release)
PushPub ==
  /\ bottom' = ob + 1
  /\ np' = np + 1
  /\ opc' = "idle"
  /\ UNCHANGED <<top, bufs, cur, ob, ot, ox, owon, tpc, tt, tb, ta, tx, ns, elemAt, taken, wrongRead>>

\* pop(): b = bottom_ - 1; bottom_.store(b, seq_cst). From "idle" any time; from "drain"
\* (everything pushed) until a pop answers nullopt.
PopRes ==
  /\ opc \in {"idle", "drain"}
  /\ ob' = bottom - 1
  /\ bottom' = bottom - 1
  /\ opc' = "pop_top"
  /\ UNCHANGED <<top, bufs, cur, ot, ox, owon, np, tpc, tt, tb, ta, tx, ns, elemAt, taken, wrongRead>>

\* After pop() returned: back to idle, or (everything pushed) drain until nullopt.
PopReturn(gotOne) ==
  opc' = IF np < Pushes THEN "idle" ELSE IF gotOne THEN "drain" ELSE "done"

\* t = top_.load(seq_cst); then by cases (x = a->slot(b), owner-written).
\* BUG nolastcas: t <= b returns x at once, bottom_ stays b.
PopTop ==
  /\ ot' = top
  /\ IF top > ob
       THEN /\ opc' = "pop_restore"
            /\ owon' = FALSE
            /\ UNCHANGED <<ox, taken, wrongRead>>
       ELSE IF top < ob \/ BUG = "nolastcas"
         THEN /\ Take(Slot(cur, ob), ob)
              /\ PopReturn(TRUE)
              /\ UNCHANGED <<ox, owon>>
         ELSE /\ ox' = Slot(cur, ob)
              /\ opc' = "pop_cas"
              /\ UNCHANGED <<owon, taken, wrongRead>>
  /\ UNCHANGED <<top, bottom, bufs, cur, ob, np, tpc, tt, tb, ta, tx, ns, elemAt>>

\* top_.compare_exchange_strong(t, t + 1)
PopCas ==
  /\ IF top = ot
       THEN /\ top' = ot + 1
            /\ owon' = TRUE
       ELSE /\ owon' = FALSE
            /\ UNCHANGED top
  /\ opc' = "pop_restore"
  /\ UNCHANGED <<bottom, bufs, cur, ob, ot, ox, np, tpc, tt, tb, ta, tx, ns, elemAt, taken, wrongRead>>

\* bottom_.store(b + 1, release); return x if the CAS won, else nullopt.
PopRestore ==
  /\ bottom' = ob + 1
  /\ IF owon THEN Take(ox, ob) ELSE UNCHANGED <<taken, wrongRead>>
  /\ PopReturn(owon)
  /\ owon' = FALSE
  /\ UNCHANGED <<top, bufs, cur, ob, ot, ox, np, tpc, tt, tb, ta, tx, ns, elemAt>>

\* Everything pushed: drain.
ToDrain ==
  /\ opc = "idle" /\ np = Pushes
  /\ opc' = "drain"
  /\ UNCHANGED <<top, bottom, bufs, cur, ob, ot, ox, owon, np, tpc, tt, tb, ta, tx, ns, elemAt, taken, wrongRead>>

Owner ==
  CASE opc = "idle"        -> PushLoad \/ PopRes \/ ToDrain
    [] opc = "drain"       -> PopRes
    [] opc = "push_write"  -> PushWrite
    [] opc = "push_pub"    -> PushPub
    [] opc = "pop_top"     -> PopTop
    [] opc = "pop_cas"     -> PopCas
    [] opc = "pop_restore" -> PopRestore
    [] OTHER               -> FALSE

-----------------------------------------------------------------------------
\* The thieves: steal() Steals times each.

StealDone(th) ==
  /\ ns' = [ns EXCEPT ![th] = @ + 1]
  /\ tpc' = [tpc EXCEPT ![th] = IF ns[th] + 1 < Steals THEN "st_top" ELSE "done"]

StTop(th) ==
  /\ tt' = [tt EXCEPT ![th] = top]
  /\ tpc' = [tpc EXCEPT ![th] = "st_bot"]
  /\ UNCHANGED <<top, bottom, bufs, cur, opc, ob, ot, ox, owon, np, tb, ta, tx, ns, elemAt, taken, wrongRead>>

StBot(th) ==
  /\ tb' = [tb EXCEPT ![th] = bottom]
  /\ IF tt[th] >= bottom
       THEN StealDone(th)                    \* Empty
       ELSE /\ tpc' = [tpc EXCEPT ![th] = "st_buf"]
            /\ UNCHANGED ns
  /\ UNCHANGED <<top, bottom, bufs, cur, opc, ob, ot, ox, owon, np, tt, ta, tx, elemAt, taken, wrongRead>>

StBuf(th) ==
  /\ ta' = [ta EXCEPT ![th] = cur]
  /\ tpc' = [tpc EXCEPT ![th] = "st_read"]
  /\ UNCHANGED <<top, bottom, bufs, cur, opc, ob, ot, ox, owon, np, tt, tb, tx, ns, elemAt, taken, wrongRead>>

StRead(th) ==
  /\ tx' = [tx EXCEPT ![th] = Slot(ta[th], tt[th])]
  /\ tpc' = [tpc EXCEPT ![th] = "st_cas"]
  /\ UNCHANGED <<top, bottom, bufs, cur, opc, ob, ot, ox, owon, np, tt, tb, ta, ns, elemAt, taken, wrongRead>>

StCas(th) ==
  /\ IF top = tt[th]
       THEN /\ top' = tt[th] + 1
            /\ Take(tx[th], tt[th])          \* Success
       ELSE /\ UNCHANGED <<top, taken, wrongRead>>   \* Retry
  /\ StealDone(th)
  /\ UNCHANGED <<bottom, bufs, cur, opc, ob, ot, ox, owon, np, tt, tb, ta, tx, elemAt>>

Thief(th) ==
  CASE tpc[th] = "st_top"  -> StTop(th)
    [] tpc[th] = "st_bot"  -> StBot(th)
    [] tpc[th] = "st_buf"  -> StBuf(th)
    [] tpc[th] = "st_read" -> StRead(th)
    [] tpc[th] = "st_cas"  -> StCas(th)
    [] OTHER               -> FALSE

-----------------------------------------------------------------------------
AllDone == opc = "done" /\ \A th \in Thieves : tpc[th] = "done"
Terminating == AllDone /\ UNCHANGED vars

Next == Owner \/ (\E th \in Thieves : Thief(th)) \/ Terminating

Spec == Init /\ [][Next]_vars /\ WF_vars(Owner) /\ \A th \in Thieves : WF_vars(Thief(th))

-----------------------------------------------------------------------------
\* INVARIANTS

TypeOK ==
  /\ top \in 0..Pushes /\ bottom \in -1..Pushes
  /\ cur \in 1..Len(bufs)
  /\ \A a \in 1..Len(bufs) : \A s \in 1..Cap(a) : bufs[a][s] \in 0..Pushes
  /\ opc \in {"idle", "drain", "push_write", "push_pub", "pop_top", "pop_cas", "pop_restore", "done"}
  /\ np \in 0..Pushes
  /\ \A th \in Thieves : /\ tpc[th] \in {"st_top", "st_bot", "st_buf", "st_read", "st_cas", "done"}
                         /\ ta[th] \in 1..Len(bufs) /\ ns[th] \in 0..Steals
  /\ \A e \in Elems : taken[e] \in Nat
  /\ wrongRead \in BOOLEAN

\* No element is taken twice (by pops and steals together), only pushed elements are taken,
\* and every take returns the element that was pushed at the index it claimed (also a thief
\* reading a retired buffer).
NoDuplicate == \A e \in Elems : taken[e] <= 1
OnlyPushedTaken == \A e \in Elems : (taken[e] > 0 => e <= np)
TakesRightValue == ~wrongRead

\* At the end (the owner's last pop answered nullopt, every thief done): nothing lost.
NoLoss == AllDone => \A e \in Elems : taken[e] = 1

\* [top, bottom) is never "negative" by more than the owner's reservation.
IndicesSane == bottom >= top - 1
\* COVERAGE (expected to FAIL, i.e. the situation is reachable; ChaseLevDequeCoverage*.cfg):
\* a thief about to read or CAS through a buffer that has been retired by a grow, and a
\* thief holding a value that is not (any more) the element at its index, whose CAS must fail.
NeverStaleBuffer == \A th \in Thieves : (tpc[th] \in {"st_read", "st_cas"} => ta[th] = cur)
NeverStaleValue  == \A th \in Thieves : (tpc[th] = "st_cas" => tx[th] = elemAt[tt[th]])
=============================================================================
