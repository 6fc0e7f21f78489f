//+------------------------------------------------------------------+
//| DecpMaster.mq5: publishes this account's trades to decp's ingest. |
//| Thin on purpose: every byte is built and checked by decp.dll      |
//| (decp.mqh); this file only moves bytes and reads the terminal.    |
//| Reference: docs/mt5.md. Not compiled in decp's CI (no MetaEditor);|
//| tests/mt5/wine_e2e.c runs the same DLL calls against the servers. |
//+------------------------------------------------------------------+
#property strict
#property description "decp master: trades -> signed signals -> decp ingest"

#include "decp.mqh"

input string InpServer        = "ingest.example.com"; // ingest host, or hosts "a,b": failover in order (each on the allow-list)
input int    InpPort          = 7000;                 // ingest TCP port
input bool   InpTls           = true;                 // TLS 1.3 (SocketTlsHandshake)
input long   InpMasterId      = 0;                    // master id (decpctl master add)
input string InpLicenseToken  = "";                   // license token (decpctl master add)
input string InpHmacSecretHex = "";                   // 64 hex digits: HMAC-SHA256 secret
input string InpEd25519SeedHex= "";                   // 64 hex digits: Ed25519 private seed
input int    InpHeartbeatSec  = 5;                    // heartbeat period
input int    InpReconnectSec  = 3;                    // longest wait before reconnecting after every host failed (after a live session: 0.25-0.5 s first, doubling)
input int    InpAckTimeoutMs  = 3000;                 // no HelloAck / ACK of the oldest signal this long: next host
input int    InpPositionsSec  = 10;                   // own positions to the book check every N s when all is ACKed (0 = never)

#define DECP_FRAME_MAX 4096  // decp_dll.h (decp.mqh carries the functions only)
#define DECP_MASTER_POSITIONS_OUT 262144 // decp_dll.h: the frames of 1,024 entries always fit
#define DECP_WINDOW 64       // unACKed signals in flight
#define DECP_QUEUE  4096     // unACKed signals kept (memory and journal file)

long   g_master = 0;         // decp.dll handle
int    g_sock = INVALID_HANDLE;
bool   g_ready = false;      // HelloAck received
uchar  g_in[];               // bytes read, not yet a whole frame
int    g_in_len = 0;
long   g_next_seq = 1;       // next sequence to assign (persisted)
long   g_acked = 0;          // highest ACKed sequence
long   g_sent = 0;           // highest sequence sent on this connection
datetime g_last_hb = 0, g_last_positions = 0;
ulong  g_down_ms = 0;        // GetTickCount64() when the last host failed
uint   g_retry_ms = 0;       // the wait before trying the hosts again (RetryAfter)
// Error REPLACED: a newer login of this master took the session. Another DecpMaster (or
// decp-master) for the same master would take it back at once and so on; so a REPLACED
// waits InpReconnectSec, and DECP_REPLACED_MAX of them without a session that lasted a
// minute in between stop the EA's connecting (an Alert: remove the twin, then restart).
#define DECP_REPLACED_MAX 10
int    g_replaced = 0;
bool   g_stopped = false;
ulong  g_live_since = 0;     // GetTickCount64() of the current session's HelloAck
string g_hosts[];            // InpServer split at commas
int    g_host = 0;           // the host of the current / next connection
int    g_tried = 0;          // hosts failed in a row since the last HelloAck
uint   g_wait_since = 0;     // GetTickCount() since when a HelloAck / the oldest ACK is due
// unACKed frames by sequence (ring): resent after a reconnect from HelloAck's next
struct QueuedFrame { uchar b[512]; int n; long seq; };
QueuedFrame g_q[DECP_QUEUE];
// what this EA last signalled as held (positions and pending orders, the book's view), kept
// in decp_master_<id>.held at every signal: at start what the account did while the EA was
// not running is signalled from it (CatchUp; docs/mt5.md "While DecpMaster was not running")
ulong  g_held_ticket[];
int    g_held_type[];
string g_held_sym[];
long   g_held_vol[], g_held_price[], g_held_sl[], g_held_tp[];
int    g_held_todo = 0;        // once connected 3 s: 1 CatchUp (a held file was read at
                               // start), 2 HeldFromAccount (none: the first start), 0 done
bool   g_held_ready = false;   // the list is what the book holds: saved from then on
datetime g_online_since = 0;   // since when the terminal has been connected to its broker

string GvSeq() { return "decp.master." + IntegerToString(InpMasterId) + ".next_seq"; }
string Journal() { return "decp_master_" + IntegerToString(InpMasterId) + ".journal"; }

int Hex(string h, uchar &out[], int n)
{
   if(StringLen(h) != 2 * n) return -1;
   ArrayResize(out, n);
   for(int i = 0; i < n; i++)
   {
      int v = 0;
      for(int j = 0; j < 2; j++)
      {
         ushort c = StringGetCharacter(h, 2 * i + j);
         int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
                 c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
         if(d < 0) return -1;
         v = v * 16 + d;
      }
      out[i] = (uchar)v;
   }
   return n;
}

// the wall clock from the DLL: TimeGMT() has 1 s resolution, and GetMicrosecondCount() counts
// from the program's start, so their sum jumped back up to a second once a second
long NowNs() { return decp_now_ns(); }
long Px(double p)  { return (long)MathRound(p * 100000.0); }   // 1e-5
long Lots(double v){ return (long)MathRound(v * 100.0); }      // 0.01 lot

void Log(string what, int rc)
{
   uchar s[64];
   decp_strerror(rc, s, 64);
   PrintFormat("decp: %s: %d %s", what, rc, CharArrayToString(s));
}

// drops the first n bytes of a (len bytes used)
void Consume(uchar &a[], int &len, int n)
{
   uchar t[];
   if(len > n) ArrayCopy(t, a, 0, n, len - n);
   ArrayFree(a);
   if(len > n) ArrayCopy(a, t);
   len -= n;
}

//--- transport: the EA's only job besides reading the terminal
bool Send(const uchar &b[], int n)
{
   if(g_sock == INVALID_HANDLE) return false;
   uchar tmp[];
   ArrayCopy(tmp, b, 0, 0, n);
   int k = InpTls ? SocketTlsSend(g_sock, tmp, n) : SocketSend(g_sock, tmp, n);
   return k == n;
}

// The wait before the hosts are tried again once every one failed in a row: 0.25-0.5 s
// (random) after a session that was logged in (a dataplane restarted for an upgrade: with
// one host, waiting InpReconnectSec at once held every trade for 3 s), else twice the
// last, at most InpReconnectSec.
void RetryAfter(bool was_live)
{
   uint most = (uint)MathMax(InpReconnectSec, 1) * 1000;
   g_retry_ms = was_live || g_retry_ms == 0 ? 250 + (uint)(MathRand() % 250)
              : (uint)MathMin(g_retry_ms * 2, most);
   g_down_ms = GetTickCount64();
}

// A lost connection goes on with the next host at once (its edge answers HelloAck from the
// durable sequence in Redis, docs/ingest.md "One live session per master, across edges");
// after every host failed in a row, RetryAfter's wait first.
void Disconnect(string why)
{
   bool was_live = g_ready;
   if(g_sock != INVALID_HANDLE) { SocketClose(g_sock); g_sock = INVALID_HANDLE; }
   g_ready = false; g_in_len = 0; RetryAfter(was_live);
   Print("decp: disconnected from ", g_hosts[g_host], ": ", why);
   g_host = (g_host + 1) % ArraySize(g_hosts); g_tried++;
}

bool Connect()
{
   g_sock = SocketCreate();
   if(g_sock == INVALID_HANDLE) { Print("decp: SocketCreate failed ", GetLastError()); return false; }
   string host = g_hosts[g_host];
   if(!SocketConnect(g_sock, host, InpPort, 5000) || (InpTls && !SocketTlsHandshake(g_sock, host)))
   {
      Print("decp: connect to ", host, ":", InpPort, " failed ", GetLastError(),
            " (is the host in Tools > Options > Expert Advisors > allowed URLs?)");
      SocketClose(g_sock); g_sock = INVALID_HANDLE;
      g_host = (g_host + 1) % ArraySize(g_hosts); g_tried++; RetryAfter(false);
      return false;
   }
   g_wait_since = GetTickCount();
   uchar f[1024];
   int n = decp_master_hello(g_master, "DecpMaster/1", f, 1024);   // protocol 2: no token on the wire
   if(n < 0) { Log("hello", n); Disconnect("hello"); return false; }
   Send(f, n);
   return true;
}

//--- the queue of unACKed signals (memory + journal file, survives a terminal restart)
void Enqueue(long seq, const uchar &f[], int n)
{
   int i = (int)(seq % DECP_QUEUE);
   ArrayCopy(g_q[i].b, f, 0, 0, n); g_q[i].n = n; g_q[i].seq = seq;
   int h = FileOpen(Journal(), FILE_READ | FILE_WRITE | FILE_BIN | FILE_COMMON);
   if(h != INVALID_HANDLE)
   {
      FileSeek(h, 0, SEEK_END);
      FileWriteLong(h, seq); FileWriteInteger(h, n); FileWriteArray(h, f, 0, n);
      FileClose(h);
   }
   GlobalVariableSet(GvSeq(), (double)(seq + 1));
   GlobalVariablesFlush();
}

void LoadJournal()
{
   int h = FileOpen(Journal(), FILE_READ | FILE_BIN | FILE_COMMON);
   if(h == INVALID_HANDLE) return;
   while(!FileIsEnding(h))
   {
      long seq = FileReadLong(h); int n = FileReadInteger(h);
      if(seq <= 0 || n <= 0 || n > 512) break;
      // a record cut by a crash mid-write ends the journal (RewriteJournal then drops it):
      // resent, its bytes would fail the ingest's HMAC (Nack, the session closed) at every
      // login and nothing after it would ever be sent; appended after, every later record
      // would be read misaligned. Its signal was not numbered (the global variable follows)
      uchar rec[];
      if(FileReadArray(h, rec, 0, n) != n) break;
      int i = (int)(seq % DECP_QUEUE);
      ArrayCopy(g_q[i].b, rec, 0, 0, n); g_q[i].n = n; g_q[i].seq = seq;
      // a global variable not flushed before a crash is behind the journal: never number a
      // new trade over a journaled one
      if(seq + 1 > g_next_seq) g_next_seq = seq + 1;
   }
   FileClose(h);
}

// The journal as the ring holds it, in sequence order (written beside, then moved over it:
// a crash meanwhile leaves the old one): drops a cut record and what HelloAck made
// durable long ago, so the file no longer grows with every signal ever sent.
void RewriteJournal()
{
   string tmp = Journal() + ".tmp";
   int h = FileOpen(tmp, FILE_WRITE | FILE_BIN | FILE_COMMON);
   if(h == INVALID_HANDLE) return;
   long from = g_next_seq - DECP_QUEUE;
   if(from < 1) from = 1;
   for(long q = from; q < g_next_seq; q++)
   {
      int i = (int)(q % DECP_QUEUE);
      if(g_q[i].seq != q || g_q[i].n <= 0) continue;
      FileWriteLong(h, q); FileWriteInteger(h, g_q[i].n); FileWriteArray(h, g_q[i].b, 0, g_q[i].n);
   }
   FileClose(h);
   if(!FileMove(tmp, FILE_COMMON, Journal(), FILE_COMMON | FILE_REWRITE))
      Print("decp: journal not rewritten: ", GetLastError());
}

void Pump()
{
   // send what HelloAck did not cover, within the window
   while(g_ready && g_sent + 1 < g_next_seq && g_sent + 1 - g_acked <= DECP_WINDOW)
   {
      int i = (int)((g_sent + 1) % DECP_QUEUE);
      // the ring overflowed (more unACKed signals than it holds): log in again, HelloAck says
      // what is durable (a break here stalled every later signal with no timeout to end it)
      if(g_q[i].seq != g_sent + 1) { Print("decp: signal ", g_sent + 1, " lost from the queue"); Disconnect("queue"); return; }
      if(!Send(g_q[i].b, g_q[i].n)) { Disconnect("send"); return; }
      if(g_sent == g_acked) g_wait_since = GetTickCount();   // the oldest unACKed: its clock starts
      g_sent++;
   }
}

// The broker's trade-server time (ORDER_TIME_EXPIRATION is in it) to UTC seconds: its offset
// from GMT in whole quarter hours (time zones are), so a tick's jitter does not move it.
// Before, the expiration went out as if it were UTC: hours off on most brokers.
long ServerToUtc(datetime t)
{
   return (long)t - (long)MathRound((double)(TimeTradeServer() - TimeGMT()) / 900.0) * 900;
}

void Signal(int type, string symbol, double volume, double price, double sl, double tp, ulong ticket,
            datetime expiration)
{
   uchar f[512];
   long seq = g_next_seq;
   int n = decp_master_signal(g_master, seq, symbol, type, Lots(volume), Px(price), Px(sl), Px(tp),
                              (long)ticket, NowNs(), expiration > 0 ? ServerToUtc(expiration) * 1000000000 : 0,
                              f, 512);
   if(n < 0) { Log("signal " + symbol, n); return; }
   g_next_seq++;
   Enqueue(seq, f, n);
   HeldApply(type, symbol, Lots(volume), Px(price), Px(sl), Px(tp), ticket);
   Pump();
}

//--- the held file
string HeldFile() { return "decp_master_" + IntegerToString(InpMasterId) + ".held"; }

int HeldFind(ulong t)
{
   for(int i = 0; i < ArraySize(g_held_ticket); i++) if(g_held_ticket[i] == t) return i;
   return -1;
}

void HeldResize(int n)
{
   ArrayResize(g_held_ticket, n); ArrayResize(g_held_type, n); ArrayResize(g_held_sym, n);
   ArrayResize(g_held_vol, n); ArrayResize(g_held_price, n); ArrayResize(g_held_sl, n);
   ArrayResize(g_held_tp, n);
}

void HeldSet(int i, ulong t, int type, string sym, long vol, long price, long sl, long tp)
{
   g_held_ticket[i] = t; g_held_type[i] = type; g_held_sym[i] = sym; g_held_vol[i] = vol;
   g_held_price[i] = price; g_held_sl[i] = sl; g_held_tp[i] = tp;
}

void HeldRemove(int i)
{
   int last = ArraySize(g_held_ticket) - 1;
   if(i < last)
      HeldSet(i, g_held_ticket[last], g_held_type[last], g_held_sym[last], g_held_vol[last],
              g_held_price[last], g_held_sl[last], g_held_tp[last]);
   HeldResize(last);
}

// Written beside, then moved over it: a crash meanwhile leaves the previous one.
void SaveHeld()
{
   if(!g_held_ready) return;   // the first start before the account was read: nothing to keep yet
   string tmp = HeldFile() + ".tmp";
   int h = FileOpen(tmp, FILE_WRITE | FILE_BIN | FILE_COMMON);
   if(h == INVALID_HANDLE) { Print("decp: ", HeldFile(), " not written: ", GetLastError()); return; }
   FileWriteInteger(h, ArraySize(g_held_ticket));
   for(int i = 0; i < ArraySize(g_held_ticket); i++)
   {
      int len = StringLen(g_held_sym[i]);
      FileWriteLong(h, (long)g_held_ticket[i]); FileWriteInteger(h, g_held_type[i]);
      FileWriteInteger(h, len); FileWriteString(h, g_held_sym[i], len);
      FileWriteLong(h, g_held_vol[i]); FileWriteLong(h, g_held_price[i]);
      FileWriteLong(h, g_held_sl[i]); FileWriteLong(h, g_held_tp[i]);
   }
   FileClose(h);
   if(!FileMove(tmp, FILE_COMMON, HeldFile(), FILE_COMMON | FILE_REWRITE))
      Print("decp: ", HeldFile(), " not replaced: ", GetLastError());
}

// False when there is no file (the first start of this EA for this master) or it cannot be
// read: then nothing is compared (the held list starts from the account as it is).
bool LoadHeld()
{
   HeldResize(0);
   int h = FileOpen(HeldFile(), FILE_READ | FILE_BIN | FILE_COMMON);
   if(h == INVALID_HANDLE) return false;
   int n = FileReadInteger(h);
   bool ok = n >= 0 && n <= 100000;
   for(int i = 0; ok && i < n; i++)
   {
      ulong t = (ulong)FileReadLong(h);
      int type = FileReadInteger(h), len = FileReadInteger(h);
      if(type < 1 || type > 6 || len < 1 || len > 64) { ok = false; break; }
      string sym = FileReadString(h, len);
      long vol = FileReadLong(h), price = FileReadLong(h), sl = FileReadLong(h), tp = FileReadLong(h);
      HeldResize(i + 1);
      HeldSet(i, t, type, sym, vol, price, sl, tp);
   }
   FileClose(h);
   if(!ok) { Print("decp: ", HeldFile(), " unreadable: what happened while the EA was off is not signalled"); HeldResize(0); }
   g_held_ready = ok;
   return ok;
}

// A signal's effect on the held list, as the book applies it (controlplane/common/cp_book.c).
void HeldApply(int type, string sym, long vol, long price, long sl, long tp, ulong ticket)
{
   int i = HeldFind(ticket);
   if(type >= 1 && type <= 6)
   {
      if(i < 0) { i = ArraySize(g_held_ticket); HeldResize(i + 1); }
      HeldSet(i, ticket, type, sym, vol, price, sl, tp);
   }
   else if(i < 0) return;
   else if(type == 7) HeldRemove(i);
   else if(type == 8)
   {
      g_held_sl[i] = sl; g_held_tp[i] = tp;
      if(g_held_type[i] >= 3 && price > 0) g_held_price[i] = price;
   }
   else if(type == 9)
   {
      g_held_vol[i] -= vol;
      if(g_held_vol[i] <= 0) HeldRemove(i);
   }
   SaveHeld();
}

// The account as it is, held without a signal (the first start: nothing to compare with;
// what was signalled live before it is in the account too).
void HeldFromAccount()
{
   HeldResize(0);
   g_held_ready = true;
   for(int j = 0; j < PositionsTotal(); j++)
   {
      if(PositionGetTicket(j) == 0) continue;
      int i = ArraySize(g_held_ticket);
      HeldResize(i + 1);
      HeldSet(i, (ulong)PositionGetInteger(POSITION_IDENTIFIER), PositionGetInteger(POSITION_TYPE) == POSITION_TYPE_BUY ? 1 : 2,
              PositionGetString(POSITION_SYMBOL), Lots(PositionGetDouble(POSITION_VOLUME)),
              Px(PositionGetDouble(POSITION_PRICE_OPEN)), Px(PositionGetDouble(POSITION_SL)),
              Px(PositionGetDouble(POSITION_TP)));
   }
   for(int j = 0; j < OrdersTotal(); j++)
   {
      ulong t = OrderGetTicket(j);
      int type = t == 0 ? 0 : PendingType((ENUM_ORDER_TYPE)OrderGetInteger(ORDER_TYPE));
      if(type == 0) continue;
      int i = ArraySize(g_held_ticket);
      HeldResize(i + 1);
      HeldSet(i, t, type, OrderGetString(ORDER_SYMBOL), Lots(OrderGetDouble(ORDER_VOLUME_CURRENT)),
              Px(OrderGetDouble(ORDER_PRICE_OPEN)), Px(OrderGetDouble(ORDER_SL)), Px(OrderGetDouble(ORDER_TP)));
   }
   SaveHeld();
}

// The price of a position's last closing deal (a partial close's too) in the terminal's
// history; 0 when the history shows none (not loaded, or not closed): then no CLOSE is sent.
double ClosedAt(ulong position)
{
   if(!HistorySelectByPosition(position)) return 0;
   for(int k = HistoryDealsTotal() - 1; k >= 0; k--)
   {
      ulong d = HistoryDealGetTicket(k);
      ENUM_DEAL_ENTRY e = (ENUM_DEAL_ENTRY)HistoryDealGetInteger(d, DEAL_ENTRY);
      if(e == DEAL_ENTRY_OUT || e == DEAL_ENTRY_OUT_BY) return HistoryDealGetDouble(d, DEAL_PRICE);
   }
   return 0;
}

// Whether the history shows the pending order ticket t as cancelled, expired or rejected.
bool OrderGone(ulong t)
{
   if(!HistoryOrderSelect(t)) return false;
   ENUM_ORDER_STATE st = (ENUM_ORDER_STATE)HistoryOrderGetInteger(t, ORDER_STATE);
   return st == ORDER_STATE_CANCELED || st == ORDER_STATE_EXPIRED || st == ORDER_STATE_REJECTED;
}

// What the account did while this EA was not running (a terminal or VPS restart, trades from
// the mobile app or another terminal, an SL hit meanwhile), signalled as it would have been
// live: a held position closed (only when the history shows its closing deal: a terminal
// whose trade data is not loaded yet must never close every copy), partly closed, or its
// SL/TP changed; a held pending order filled, deleted (when the history says so) or changed;
// positions and pending orders that appeared. Run once, when the terminal has been
// connected to its broker for 3 s.
void CatchUp()
{
   int sent = 0, n = ArraySize(g_held_ticket), unsure = 0;
   ulong tickets[];
   ArrayResize(tickets, n);
   for(int k = 0; k < n; k++) tickets[k] = g_held_ticket[k];   // Signal edits the list
   for(int k = 0; k < n; k++)
   {
      ulong t = tickets[k];
      int i = HeldFind(t);
      if(i < 0) continue;
      string sym = g_held_sym[i];
      if(g_held_type[i] >= 3 && OrderSelect(t))                 // still a pending order
      {
         double p = OrderGetDouble(ORDER_PRICE_OPEN), sl = OrderGetDouble(ORDER_SL), tp = OrderGetDouble(ORDER_TP);
         if(Px(p) != g_held_price[i] || Px(sl) != g_held_sl[i] || Px(tp) != g_held_tp[i])
         { Signal(8, sym, 0, p, sl, tp, t, 0); sent++; }
      }
      else if(PositionSelectByTicket(t))
      {
         double vol = PositionGetDouble(POSITION_VOLUME), sl = PositionGetDouble(POSITION_SL),
                tp = PositionGetDouble(POSITION_TP), at = PositionGetDouble(POSITION_PRICE_OPEN);
         int side = PositionGetInteger(POSITION_TYPE) == POSITION_TYPE_BUY ? 1 : 2;
         if(g_held_type[i] >= 3)                                // the pending order filled
         { Signal(side, sym, vol, at, sl, tp, t, 0); sent++; continue; }
         if(Lots(vol) < g_held_vol[i])                          // partly closed (at its last deal's price)
         { Signal(9, sym, (g_held_vol[i] - Lots(vol)) / 100.0, ClosedAt(t), 0, 0, t, 0); sent++; }
         i = HeldFind(t);
         if(i >= 0 && (Px(sl) != g_held_sl[i] || Px(tp) != g_held_tp[i]))
         { Signal(8, sym, 0, 0, sl, tp, t, 0); sent++; }
      }
      else if(g_held_type[i] <= 2)                              // a position closed
      {
         double px = ClosedAt(t);
         if(px > 0) { Signal(7, sym, 0, px, 0, 0, t, 0); sent++; }
         else unsure++;
      }
      // the order deleted, or filled and its position closed (the position keeps its ticket)
      else if(OrderGone(t) || ClosedAt(t) > 0) { Signal(7, sym, 0, 0, 0, 0, t, 0); sent++; }
      else unsure++;
   }
   for(int j = 0; j < PositionsTotal(); j++)                     // positions opened meanwhile
   {
      if(PositionGetTicket(j) == 0) continue;
      ulong id = (ulong)PositionGetInteger(POSITION_IDENTIFIER);
      if(HeldFind(id) >= 0) continue;
      Signal(PositionGetInteger(POSITION_TYPE) == POSITION_TYPE_BUY ? 1 : 2, PositionGetString(POSITION_SYMBOL),
             PositionGetDouble(POSITION_VOLUME), PositionGetDouble(POSITION_PRICE_OPEN),
             PositionGetDouble(POSITION_SL), PositionGetDouble(POSITION_TP), id, 0);
      sent++;
   }
   for(int j = 0; j < OrdersTotal(); j++)                        // pending orders placed meanwhile
   {
      ulong t = OrderGetTicket(j);
      int type = t == 0 ? 0 : PendingType((ENUM_ORDER_TYPE)OrderGetInteger(ORDER_TYPE));
      if(type == 0 || HeldFind(t) >= 0) continue;
      Signal(type, OrderGetString(ORDER_SYMBOL), OrderGetDouble(ORDER_VOLUME_CURRENT),
             OrderGetDouble(ORDER_PRICE_OPEN), OrderGetDouble(ORDER_SL), OrderGetDouble(ORDER_TP), t,
             (datetime)OrderGetInteger(ORDER_TIME_EXPIRATION));
      sent++;
   }
   PrintFormat("decp: %d signal(s) for what the account did while this EA was not running%s", sent,
               unsure > 0 ? StringFormat("; %d held ticket(s) gone without a closing deal in the history: not closed (see the positions check)", unsure) : "");
}

//--- terminal events -> signals (decp.OrderType numbers)
int PendingType(ENUM_ORDER_TYPE t)
{
   switch(t)
   {
      case ORDER_TYPE_BUY_LIMIT:  return 3;
      case ORDER_TYPE_SELL_LIMIT: return 4;
      case ORDER_TYPE_BUY_STOP:   return 5;
      case ORDER_TYPE_SELL_STOP:  return 6;
   }
   return 0;
}

// the price, SL and TP last signalled per pending order (placement or MODIFY), so that an
// ORDER_UPDATE that changes only the order's state sends nothing
struct PendingSent { ulong ticket; long price, sl, tp; };
PendingSent g_pend[];

int PendFind(ulong t)
{
   for(int i = 0; i < ArraySize(g_pend); i++) if(g_pend[i].ticket == t) return i;
   return -1;
}
bool PendSame(ulong t, double price, double sl, double tp)
{
   int i = PendFind(t);
   return i >= 0 && g_pend[i].price == Px(price) && g_pend[i].sl == Px(sl) && g_pend[i].tp == Px(tp);
}
void PendSet(ulong t, double price, double sl, double tp)
{
   int i = PendFind(t);
   if(i < 0) { i = ArraySize(g_pend); ArrayResize(g_pend, i + 1); g_pend[i].ticket = t; }
   g_pend[i].price = Px(price); g_pend[i].sl = Px(sl); g_pend[i].tp = Px(tp);
}
bool PendDrop(ulong t)   // always true: used inside a condition, after the type test
{
   int i = PendFind(t), n = ArraySize(g_pend);
   if(i >= 0) { g_pend[i] = g_pend[n - 1]; ArrayResize(g_pend, n - 1); }
   return true;
}

void OnTradeTransaction(const MqlTradeTransaction &t, const MqlTradeRequest &req, const MqlTradeResult &res)
{
   if(t.type == TRADE_TRANSACTION_DEAL_ADD && HistoryDealSelect(t.deal))
   {
      ENUM_DEAL_ENTRY e = (ENUM_DEAL_ENTRY)HistoryDealGetInteger(t.deal, DEAL_ENTRY);
      long dt = HistoryDealGetInteger(t.deal, DEAL_TYPE);
      // only trades: balance, credit, commission, swap and dividend deals are no signal
      if(dt != DEAL_TYPE_BUY && dt != DEAL_TYPE_SELL) return;
      ulong pos = (ulong)HistoryDealGetInteger(t.deal, DEAL_POSITION_ID);
      double vol = HistoryDealGetDouble(t.deal, DEAL_VOLUME), px = HistoryDealGetDouble(t.deal, DEAL_PRICE);
      string sym = HistoryDealGetString(t.deal, DEAL_SYMBOL);
      // every opening deal is signalled, a pending order's fill too (the position carries
      // the order's ticket): the book turns the pending order into the position
      // (docs/resync.md, CP_BOOK_FILLED), a receiver holding a copy of the order (waiting
      // or filled at its broker) refuses a second copy (FILTERED/HELD), one without a copy
      // (pending orders off, its placement refused by its broker, an order placed before
      // this EA started) copies the position. Not signalling fills left the book holding
      // the pending order, so a re-sync closed a filled copy and placed the order again.
      if(e == DEAL_ENTRY_IN)
      {
         double sl = 0, tp = 0;
         if(PositionSelectByTicket(pos)) { sl = PositionGetDouble(POSITION_SL); tp = PositionGetDouble(POSITION_TP); }
         Signal(dt == DEAL_TYPE_BUY ? 1 : 2, sym, vol, px, sl, tp, pos, 0);
      }
      else if(e == DEAL_ENTRY_OUT || e == DEAL_ENTRY_OUT_BY)
      {
         if(PositionSelectByTicket(pos)) Signal(9, sym, vol, px, 0, 0, pos, 0);   // partial close
         else                            Signal(7, sym, 0, px, 0, 0, pos, 0);     // close
      }
   }
   else if(t.type == TRADE_TRANSACTION_POSITION)                                 // SL/TP changed
      Signal(8, t.symbol, 0, 0, t.price_sl, t.price_tp, t.position, 0);
   else if((t.type == TRADE_TRANSACTION_ORDER_ADD || t.type == TRADE_TRANSACTION_ORDER_UPDATE) &&
           PendingType(t.order_type) != 0)
   {
      // an update of an order no longer working (filled or deleted meanwhile) says nothing
      if(t.type == TRADE_TRANSACTION_ORDER_UPDATE && !OrderSelect(t.order)) return;
      // a pending order not known yet is placed: its ORDER_ADD, or an update that came first
      // (their order is not guaranteed), or a stop-limit order that became a limit order
      // (stop-limit orders themselves are not copied). An update of a known one is also sent
      // when only its state changes (placed after the ORDER_ADD, request_modify/cancel,
      // triggered): a MODIFY only when price, SL or TP changed
      if(PendFind(t.order) < 0)
      {
         PendSet(t.order, t.price, t.price_sl, t.price_tp);
         Signal(PendingType(t.order_type), t.symbol, t.volume, t.price, t.price_sl, t.price_tp, t.order,
                t.time_expiration);
      }
      else if(t.type == TRADE_TRANSACTION_ORDER_UPDATE && !PendSame(t.order, t.price, t.price_sl, t.price_tp))
      {
         PendSet(t.order, t.price, t.price_sl, t.price_tp);
         Signal(8, t.symbol, 0, t.price, t.price_sl, t.price_tp, t.order, 0);
      }
   }
   else if(t.type == TRADE_TRANSACTION_ORDER_DELETE && PendingType(t.order_type) != 0 && PendDrop(t.order) &&
           (t.order_state == ORDER_STATE_CANCELED || t.order_state == ORDER_STATE_EXPIRED ||
            t.order_state == ORDER_STATE_REJECTED))   // signalled at ORDER_ADD: a refusal after it too
      Signal(7, t.symbol, 0, 0, 0, 0, t.order, 0);                               // pending deleted
}

//--- the master's own positions (docs/mt5.md "The master's positions"): what the account
//--- holds at N = the last ACKed sequence, for the control plane to compare with its book.
//--- Only when every signal sent is ACKed, so the book has had every signal up to N.
uchar g_pos_frames[DECP_MASTER_POSITIONS_OUT];

void SendPositions()
{
   int rc = 0;
   for(int i = 0; i < PositionsTotal() && rc >= 0; i++)
   {
      if(PositionGetTicket(i) == 0) continue;
      // the ticket the signals carried: the position's identifier (DEAL_POSITION_ID)
      rc = decp_master_position(g_master, PositionGetInteger(POSITION_IDENTIFIER),
                                PositionGetString(POSITION_SYMBOL),
                                PositionGetInteger(POSITION_TYPE) == POSITION_TYPE_BUY ? 1 : 2,
                                Lots(PositionGetDouble(POSITION_VOLUME)),
                                Px(PositionGetDouble(POSITION_PRICE_OPEN)),
                                Px(PositionGetDouble(POSITION_SL)), Px(PositionGetDouble(POSITION_TP)), 0);
   }
   for(int i = 0; i < OrdersTotal() && rc >= 0; i++)
   {
      ulong t = OrderGetTicket(i);
      int type = PendingType((ENUM_ORDER_TYPE)OrderGetInteger(ORDER_TYPE));
      if(t == 0 || type == 0) continue;
      long expiry = OrderGetInteger(ORDER_TIME_EXPIRATION);
      rc = decp_master_position(g_master, (long)t, OrderGetString(ORDER_SYMBOL), type,
                                Lots(OrderGetDouble(ORDER_VOLUME_CURRENT)),
                                Px(OrderGetDouble(ORDER_PRICE_OPEN)), Px(OrderGetDouble(ORDER_SL)),
                                Px(OrderGetDouble(ORDER_TP)), expiry > 0 ? ServerToUtc((datetime)expiry) * 1000000000 : 0);
   }
   // the frames of every part (an error empties nothing: the next call starts afresh)
   int n = rc < 0 ? rc : decp_master_positions(g_master, g_acked, (long)TimeGMT() * 1000 + GetTickCount() % 1000,
                                               NowNs(), g_pos_frames, DECP_MASTER_POSITIONS_OUT);
   if(n < 0) { Log("positions", n); decp_master_positions(g_master, g_acked, 1, NowNs(), g_pos_frames, DECP_MASTER_POSITIONS_OUT); return; }
   if(!Send(g_pos_frames, n)) Disconnect("send");
}

void OnIngestFrame(const uchar &p[], int n)
{
   long f[4];
   int k = decp_ingest_decode(p, n, f, 4);
   if(k == 6 && !g_ready)   // ServerChallenge: the DLL proves the token for this nonce
   {
      uchar proof[64];
      int m = decp_master_login_proof(g_master, InpLicenseToken, p, n, proof, 64);
      if(m < 0) { Log("login proof", m); Disconnect("challenge"); return; }
      Send(proof, m);
   }
   else if(k == 1)   // HelloAck: everything below f[0] is durable; resend from there
   {
      g_ready = true; g_acked = f[0] - 1; g_sent = f[0] - 1; g_tried = 0; g_wait_since = GetTickCount();
      g_live_since = GetTickCount64();
      if(g_next_seq < f[0]) g_next_seq = f[0];
   }
   else if(k == 2) { if(f[0] > g_acked) { g_acked = f[0]; g_wait_since = GetTickCount(); } }
   else if(k == 3)   // Nack: GAP -> resend from expected; BUSY -> resend this one
   {
      long from = f[1] == 1 ? f[2] : f[0];
      if(from - 1 < g_sent) g_sent = from - 1;
      if(f[1] != 1 && f[1] != 2 && f[1] != 8) Disconnect("Nack " + IntegerToString(f[1]));
   }
   else if(k == 4 && f[0] == 8)   // REPLACED
   {
      Disconnect("Error 8: replaced by a newer login of this master");
      g_retry_ms = (uint)MathMax(InpReconnectSec, 1) * 1000;   // not the quick reconnect
      if(++g_replaced >= DECP_REPLACED_MAX)
      {
         g_stopped = true;
         Alert("decp: master ", InpMasterId, " replaced by a newer login ", g_replaced,
               " times: another DecpMaster or decp-master runs for it; not connecting until this EA is restarted");
      }
   }
   else if(k == 4) Disconnect("Error " + IntegerToString(f[0]));
   else if(k == 6) Disconnect("challenge after login");
   else if(k < 0)  { Log("ingest frame", k); Disconnect("malformed"); }
}

void OnTimer()
{
   // the account's trade data is the broker's: compared (or taken) only once the terminal
   // has been connected for 3 s, never from a terminal still loading it
   if(g_held_todo != 0)
   {
      if(TerminalInfoInteger(TERMINAL_CONNECTED) == 0) g_online_since = 0;
      else if(g_online_since == 0) g_online_since = TimeLocal();
      else if(TimeLocal() - g_online_since >= 3)
      {
         if(g_held_todo == 1) CatchUp(); else HeldFromAccount();
         g_held_todo = 0;
      }
   }
   if(g_ready && g_replaced > 0 && GetTickCount64() - g_live_since >= 60000) g_replaced = 0;
   if(g_sock == INVALID_HANDLE)
   {
      if(g_stopped) return;
      if(g_tried % ArraySize(g_hosts) != 0 || GetTickCount64() - g_down_ms >= g_retry_ms) Connect();
      return;
   }
   if(!SocketIsConnected(g_sock)) { Disconnect("closed by peer"); return; }
   // a silent host (hung, or its network gone) never closes the socket: the ACK timeout
   if((!g_ready || g_sent > g_acked) && GetTickCount() - g_wait_since > (uint)InpAckTimeoutMs)
   { Disconnect("ACK timeout"); return; }
   uint avail = SocketIsReadable(g_sock);
   if(avail > 0)
   {
      uchar tmp[];
      int k = InpTls ? SocketTlsReadAvailable(g_sock, tmp, 1048576) : SocketRead(g_sock, tmp, avail, 100);
      if(k > 0) { ArrayResize(g_in, g_in_len + k); ArrayCopy(g_in, tmp, g_in_len, 0, k); g_in_len += k; }
   }
   for(;;)
   {
      int fl = decp_frame_split(g_in, g_in_len, DECP_FRAME_MAX);
      if(fl == 0) break;
      if(fl < 0) { Log("frame", fl); Disconnect("bad frame"); return; }
      uchar p[]; ArrayCopy(p, g_in, 0, 4, fl - 4);
      OnIngestFrame(p, fl - 4);
      if(g_sock == INVALID_HANDLE) return;
      Consume(g_in, g_in_len, fl);
   }
   // nothing but the login before the HelloAck: a frame then closes the session
   if(g_ready && TimeLocal() - g_last_hb >= InpHeartbeatSec)
   {
      uchar hb[64]; int n = decp_master_heartbeat(NowNs(), hb, 64);
      if(n > 0) Send(hb, n);
      g_last_hb = TimeLocal();
   }
   Pump();
   if(InpPositionsSec > 0 && g_ready && g_acked == g_next_seq - 1 &&
      TimeLocal() - g_last_positions >= InpPositionsSec)
   {
      SendPositions();
      g_last_positions = TimeLocal();
   }
}

int OnInit()
{
   uchar secret[], seed[];
   if(decp_version() != 9) { Print("decp: decp.dll version ", decp_version(), ", expected 9"); return INIT_FAILED; }
   if(InpMasterId <= 0 || Hex(InpHmacSecretHex, secret, 32) != 32 || Hex(InpEd25519SeedHex, seed, 32) != 32)
   { Print("decp: set InpMasterId, InpHmacSecretHex and InpEd25519SeedHex (64 hex digits each)"); return INIT_PARAMETERS_INCORRECT; }
   g_master = decp_master_new(InpMasterId, secret, 32, seed, 32);
   ArrayInitialize(secret, 0); ArrayInitialize(seed, 0);
   if(g_master <= 0) { Log("master_new", (int)g_master); return INIT_FAILED; }
   if(AccountInfoInteger(ACCOUNT_MARGIN_MODE) != ACCOUNT_MARGIN_MODE_RETAIL_HEDGING)
   { Print("decp: a hedging account is needed: a netting position has no ticket of its own per trade"); return INIT_FAILED; }
   if(GlobalVariableCheck(GvSeq())) g_next_seq = (long)GlobalVariableGet(GvSeq());
   LoadJournal();
   RewriteJournal();
   g_online_since = 0; g_held_ready = false;
   g_held_todo = LoadHeld() ? 1 : 2;
   // the pending orders held now were placed before this EA ran (never signalled): known,
   // so that their updates are MODIFYs, not placements (their fills are signalled)
   ArrayResize(g_pend, 0);
   for(int i = 0; i < OrdersTotal(); i++)
   {
      ulong t = OrderGetTicket(i);
      if(t != 0 && PendingType((ENUM_ORDER_TYPE)OrderGetInteger(ORDER_TYPE)) != 0)
         PendSet(t, OrderGetDouble(ORDER_PRICE_OPEN), OrderGetDouble(ORDER_SL), OrderGetDouble(ORDER_TP));
   }
   if(StringSplit(InpServer, ',', g_hosts) < 1) { ArrayResize(g_hosts, 1); g_hosts[0] = InpServer; }
   for(int i = 0; i < ArraySize(g_hosts); i++) { StringTrimLeft(g_hosts[i]); StringTrimRight(g_hosts[i]); }
   MathSrand((uint)GetTickCount() ^ (uint)AccountInfoInteger(ACCOUNT_LOGIN));   // the reconnect's jitter
   g_retry_ms = 0; g_replaced = 0; g_stopped = false;
   EventSetMillisecondTimer(20);
   Connect();
   return INIT_SUCCEEDED;
}

void OnDeinit(const int reason)
{
   EventKillTimer();
   if(g_sock != INVALID_HANDLE) SocketClose(g_sock);
   if(g_master > 0) decp_handle_free(g_master);
   // a chart's symbol/period or input change runs OnDeinit/OnInit without unloading the EA:
   // its globals keep their values, and a g_ready still true sent frames before the next
   // HelloAck (the session closed) and took the next ServerChallenge as one "after login"
   g_sock = INVALID_HANDLE; g_ready = false; g_in_len = 0; g_master = 0; g_sent = 0; g_acked = 0;
}
