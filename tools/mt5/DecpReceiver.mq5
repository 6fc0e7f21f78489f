//+------------------------------------------------------------------+
//| DecpReceiver.mq5: copies one decp master's signals into this      |
//| account through the ExecutionGuard in decp.dll.                   |
//| Thin on purpose: WebSocket codec, protocol, signature check,      |
//| guard and copy policy are all in decp.dll (decp.mqh); this file   |
//| moves bytes, reads the account and sends orders.                  |
//| Reference: docs/mt5.md. Not compiled in decp's CI (no MetaEditor);|
//| tests/mt5/wine_e2e.c runs the same DLL calls against the servers. |
//+------------------------------------------------------------------+
#property strict
#property description "decp receiver: decp fan-out -> ExecutionGuard -> orders"

#include <Trade/Trade.mqh>
#include "decp.mqh"

#define DECP_E_BADSIG_CODE   (-5)  // decp_dll.h DECP_E_BADSIG
#define DECP_E_SNAPSHOT_CODE (-11) // decp_dll.h DECP_E_SNAPSHOT

input string InpServer         = "fanout.example.com"; // fan-out host (add to the socket allow-list)
input int    InpPort           = 8443;                 // fan-out port
input bool   InpTls            = true;                 // wss (SocketTlsHandshake)
input string InpPath           = "/";                  // WebSocket path
input string InpToken          = "";                   // subscriber token (decpctl subscriber add)
input long   InpMasterId       = 0;                    // master to copy
input string InpMasterPubHex   = "";                   // master's Ed25519 public key, 64 hex digits
input int    InpTtlMs          = 500;                  // TTL shield (server clock)
input string InpPlatformPubHex = "";                   // platform's snapshot key, 64 hex (fan-out log): re-sync by snapshot; "" = off
// The local copy policy: the whole policy until the server's arrives; then it only narrows
// the server's (smaller deviation, pending orders off, affixes when the server has none).
input int    InpLotMode        = 2;                    // 1 fixed, 2 multiplier, 3 equity ratio, 4 risk % (until the server's policy)
input double InpLotValue       = 1.0;                  // lots / multiplier / master equity / risk % (until the server's policy)
input bool   InpReverse        = false;                // reverse copy (until the server's policy)
input bool   InpCopySL         = true;                 // copy stop loss (until the server's policy)
input bool   InpCopyTP         = true;                 // copy take profit (until the server's policy)
input bool   InpPending        = true;                 // copy pending orders (false also narrows the server's)
input double InpMaxDevPips     = 3.0;                  // price deviation guard, pips (the smaller of this and the server's)
input string InpSymbolPrefix   = "";                   // broker symbol prefix (when the server's policy has none)
input string InpSymbolSuffix   = "";                   // broker symbol suffix, e.g. ".m" (when the server's policy has none)
input long   InpMagic          = 2126;                 // magic number of copied orders
input int    InpReconnectSec   = 3;                    // longest wait before reconnecting (after a live connection: 0.25-0.5 s first, doubling)
input int    InpTimeSyncSec    = 30;                   // TimePing period
input int    InpAccountSec     = 5;                    // AccountState period (also after every execution)
input bool   InpEquityRearm    = false;                // re-arm equity protection at this start: forget a saved trip and peak

long   g_rx = 0;
int    g_sock = INVALID_HANDLE;
bool   g_upgraded = false, g_subscribed = false;
uchar  g_in[];
int    g_in_len = 0;
datetime g_last_ping = 0, g_last_account = 0;
// Reconnecting: a live connection that ends (the fan-out restarted for an upgrade: close
// 1001, its listener already handed to the other process) is made again after 0.25-0.5 s
// (random, so that thousands of EAs do not arrive at once), then doubling to
// InpReconnectSec while attempts fail. Waiting InpReconnectSec at once cost every
// restart 3 s of signals, each then refused as older than the TTL.
ulong  g_down_ms = 0;        // GetTickCount64() when the connection ended or failed
uint   g_retry_ms = 0;       // the wait before the next attempt
datetime g_last_rx = 0;      // the last byte from the server (or the connect): liveness
CTrade g_trade;
#define DECP_RESYNC_TRIES 3  // re-syncs in a row with a failed action before going on without it
int    g_resync_failed = 0;  // re-syncs in a row with a failed action
// copies whose CLOSE failed at the broker (requote, off quotes, market closed, timeout):
// retried every DECP_CLOSE_RETRY_SEC while they exist; the signal's sequence is used up, so
// nothing else would close them
#define DECP_CLOSE_RETRY_SEC 5
ulong  g_retry_pos[], g_retry_ord[];
datetime g_last_retry = 0;

string GvLast() { return "decp.rx." + IntegerToString(InpMasterId) + ".last_seq"; }
// equity protection over a restart (ABI 7): the guard's peak equity and its trip, saved as
// they change, given back to the new handle in OnInit (decp_rx_equity_restore)
string GvPeak() { return "decp.rx." + IntegerToString(InpMasterId) + ".equity_peak"; }
string GvTrip() { return "decp.rx." + IntegerToString(InpMasterId) + ".equity_tripped"; }
long   g_saved_peak = -1, g_saved_trip = -1;
// the wall clock from the DLL: TimeGMT() has 1 s resolution, and GetMicrosecondCount() counts
// from the program's start, so their sum jumped back up to a second once a second
long NowNs() { return decp_now_ns(); }
long Px(double p)  { return (long)MathRound(p * 100000.0); }
long Lots(double v){ return (long)MathRound(v * 100.0); }
long Money(double m){ return (long)MathRound(m * 10000.0); }

// n bytes from 2n hex digits (the keys); -1 on any other character or length
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

void Log(string what, int rc)
{
   uchar s[64]; decp_strerror(rc, s, 64);
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

bool Send(const uchar &b[], int n)
{
   if(g_sock == INVALID_HANDLE || n <= 0) return false;
   uchar tmp[]; ArrayCopy(tmp, b, 0, 0, n);
   return (InpTls ? SocketTlsSend(g_sock, tmp, n) : SocketSend(g_sock, tmp, n)) == n;
}

// The wait before the next attempt: 0.25-0.5 s after a connection that was subscribed,
// else twice the last, at most InpReconnectSec.
void RetryAfter(bool was_live)
{
   uint most = (uint)MathMax(InpReconnectSec, 1) * 1000;
   g_retry_ms = was_live || g_retry_ms == 0 ? 250 + (uint)(MathRand() % 250)
              : (uint)MathMin(g_retry_ms * 2, most);
   g_down_ms = GetTickCount64();
}

void Disconnect(string why)
{
   bool was_live = g_subscribed;
   if(g_sock != INVALID_HANDLE) { SocketClose(g_sock); g_sock = INVALID_HANDLE; }
   g_upgraded = false; g_subscribed = false; g_in_len = 0;
   RetryAfter(was_live);
   PrintFormat("decp: disconnected: %s; no signal is executed until re-subscribed (reconnecting in %u ms)",
               why, g_retry_ms);
}

bool Connect()
{
   g_sock = SocketCreate();
   if(g_sock == INVALID_HANDLE) return false;
   if(!SocketConnect(g_sock, InpServer, InpPort, 5000) || (InpTls && !SocketTlsHandshake(g_sock, InpServer)))
   {
      Print("decp: connect to ", InpServer, ":", InpPort, " failed ", GetLastError(),
            " (is the host in Tools > Options > Expert Advisors > allowed URLs?)");
      SocketClose(g_sock); g_sock = INVALID_HANDLE; RetryAfter(false);   // doubling to InpReconnectSec
      return false;
   }
   g_last_rx = TimeLocal();
   uchar req[2048];
   int n = decp_ws_request(g_rx, InpServer, InpPort, InpPath, InpToken, req, 2048);
   if(n < 0) { Log("ws_request", n); Disconnect("request"); return false; }
   if(!Send(req, n)) { Disconnect("send"); return false; }
   return true;
}

// A pending copy's time in force: the master's expiration (UTC ns) on this broker's server
// clock when the symbol takes a specified time, else good till cancelled (the master's CLOSE
// at its expiry deletes the copy). Before, every copy was placed good till cancelled: one
// whose CLOSE was missed could fill long after the master's order had expired.
ENUM_ORDER_TYPE_TIME CopyTimeType(string sym, long exp_ns, datetime &expiry)
{
   expiry = 0;
   if(exp_ns <= 0 || (SymbolInfoInteger(sym, SYMBOL_EXPIRATION_MODE) & SYMBOL_EXPIRATION_SPECIFIED) == 0)
      return ORDER_TIME_GTC;
   expiry = (datetime)(exp_ns / 1000000000 + (long)MathRound((double)(TimeTradeServer() - TimeGMT()) / 900.0) * 900);
   return ORDER_TIME_SPECIFIED;
}

//--- the copied position (or pending order) of a master ticket: comment "decp:<ticket>",
//--- and the copy's own ticket kept both ways in global variables when it was placed: a
//--- broker that drops or rewrites order comments must not leave copies that no CLOSE finds
//--- (and that a re-sync would open again)
string Tag(long ticket) { return "decp:" + IntegerToString(ticket); }
string GvCp(long master_ticket) { return "decp.rx." + IntegerToString(InpMasterId) + ".cp." + IntegerToString(master_ticket); }
string GvOf(ulong copy_ticket) { return "decp.rx." + IntegerToString(InpMasterId) + ".of." + IntegerToString((long)copy_ticket); }

// After a successful opening or placement of master_ticket's copy (its order ticket: the
// position's too, on a hedging account).
void KeepCopy(long master_ticket)
{
   ulong ct = g_trade.ResultOrder();
   if(ct == 0) return;
   GlobalVariableSet(GvCp(master_ticket), (double)ct);
   GlobalVariableSet(GvOf(ct), (double)master_ticket);
}

// The master ticket a copy of this EA (magic checked by the caller) follows; 0: none.
long MasterOf(string comment, ulong copy_ticket)
{
   if(StringFind(comment, "decp:") == 0) return StringToInteger(StringSubstr(comment, 5));
   return GlobalVariableCheck(GvOf(copy_ticket)) ? (long)GlobalVariableGet(GvOf(copy_ticket)) : 0;
}

ulong FindPosition(long master_ticket, double &vol)
{
   for(int i = PositionsTotal() - 1; i >= 0; i--)
   {
      ulong t = PositionGetTicket(i);
      if(PositionGetInteger(POSITION_MAGIC) == InpMagic && PositionGetString(POSITION_COMMENT) == Tag(master_ticket))
      { vol = PositionGetDouble(POSITION_VOLUME); return t; }
   }
   if(GlobalVariableCheck(GvCp(master_ticket)))
   {
      ulong ct = (ulong)GlobalVariableGet(GvCp(master_ticket));
      if(PositionSelectByTicket(ct) && PositionGetInteger(POSITION_MAGIC) == InpMagic)
      { vol = PositionGetDouble(POSITION_VOLUME); return ct; }
   }
   return 0;
}

ulong FindOrder(long master_ticket)
{
   for(int i = OrdersTotal() - 1; i >= 0; i--)
   {
      ulong t = OrderGetTicket(i);
      if(OrderGetInteger(ORDER_MAGIC) == InpMagic && OrderGetString(ORDER_COMMENT) == Tag(master_ticket)) return t;
   }
   if(GlobalVariableCheck(GvCp(master_ticket)))
   {
      ulong ct = (ulong)GlobalVariableGet(GvCp(master_ticket));
      if(OrderSelect(ct) && OrderGetInteger(ORDER_MAGIC) == InpMagic) return ct;
   }
   return 0;
}

// The bid of a broker symbol, put in Market Watch first (a symbol not in it has no live
// quote); false when the broker has no such symbol or no quote.
bool SymbolBid(string s, double &b)
{
   b = 0;
   return s != "" && SymbolSelect(s, true) && SymbolInfoDouble(s, SYMBOL_BID, b) && b > 0;
}

// Account currency per 1 unit of sym's profit (quote) currency, 1e-5: the margin check's
// rate for crosses (EURJPY on a USD account); 0 when none is found (such an order is
// refused INSUFFICIENT_MARGIN: fail closed). The rate symbol carries sym's decoration (a
// broker's EURJPY.pro is quoted by USDJPY.pro, not USDJPY); else the terminal's own
// conversion: money per tick of one lot / (tick size x contract size).
long QuoteRate(string sym)
{
   string acc = AccountInfoString(ACCOUNT_CURRENCY), q = SymbolInfoString(sym, SYMBOL_CURRENCY_PROFIT),
          pair = SymbolInfoString(sym, SYMBOL_CURRENCY_BASE) + q, pre = "", suf = "";
   double b;
   if(q == acc) return 100000;
   int at = StringFind(sym, pair);
   if(at >= 0) { pre = StringSubstr(sym, 0, at); suf = StringSubstr(sym, at + StringLen(pair)); }
   if(SymbolBid(pre + acc + q + suf, b)) return (long)MathRound(100000.0 / b);
   if(SymbolBid(pre + q + acc + suf, b)) return Px(b);
   if((pre != "" || suf != "") && SymbolBid(acc + q, b)) return (long)MathRound(100000.0 / b);
   if((pre != "" || suf != "") && SymbolBid(q + acc, b)) return Px(b);
   double tv = SymbolInfoDouble(sym, SYMBOL_TRADE_TICK_VALUE), ts = SymbolInfoDouble(sym, SYMBOL_TRADE_TICK_SIZE),
          cs = SymbolInfoDouble(sym, SYMBOL_TRADE_CONTRACT_SIZE);
   if(tv > 0 && ts > 0 && cs > 0) return (long)MathRound(100000.0 * tv / (ts * cs));
   return 0;
}

// The broker account into the guard (margin check, equity protection); quote_rate for sym.
// Returns decp_rx_account_state's result (2: equity protection asks to close everything).
int AccountToGuard(string sym)
{
   return decp_rx_account_state(g_rx, AccountInfoString(ACCOUNT_CURRENCY),
                                (int)AccountInfoInteger(ACCOUNT_LEVERAGE),
                                Money(AccountInfoDouble(ACCOUNT_BALANCE)),
                                Money(AccountInfoDouble(ACCOUNT_EQUITY)),
                                Money(AccountInfoDouble(ACCOUNT_MARGIN)),
                                Money(AccountInfoDouble(ACCOUNT_MARGIN_FREE)),
                                PositionsTotal() + OrdersTotal(), sym == "" ? 0 : QuoteRate(sym));
}

// AccountState to the server: the account and up to 12 copied positions.
void SendAccount()
{
   int rc = AccountToGuard("");
   if(rc < 0) { Log("account state", rc); return; }
   if(rc == 2) CloseAll();
   for(int i = PositionsTotal() - 1; i >= 0; i--)
   {
      ulong t = PositionGetTicket(i);
      long mt = MasterOf(PositionGetString(POSITION_COMMENT), t);
      if(PositionGetInteger(POSITION_MAGIC) != InpMagic || mt <= 0) continue;
      if(decp_rx_account_position(g_rx, InpMasterId, mt,
                                  PositionGetString(POSITION_SYMBOL),
                                  PositionGetInteger(POSITION_TYPE) == POSITION_TYPE_BUY ? 1 : 2,
                                  Lots(PositionGetDouble(POSITION_VOLUME)),
                                  Px(PositionGetDouble(POSITION_PRICE_OPEN)), Px(PositionGetDouble(POSITION_SL)),
                                  Px(PositionGetDouble(POSITION_TP)), Money(PositionGetDouble(POSITION_PROFIT))) < 0) break;
   }
   uchar fr[1200];
   Send(fr, decp_rx_account_frame(g_rx, NowNs(), fr, 1200));
   g_last_account = TimeLocal();
}

// After a reconnect: every report the server has not acknowledged (kept by the DLL).
void ResendUnacked()
{
   uchar fr[512];
   int i = 0, n;
   while((n = decp_rx_unacked(g_rx, i, fr, 512)) > 0) { Send(fr, n); i++; }
   if(i > 0) PrintFormat("decp: %d unacknowledged reports sent again", i);
}

void LogPolicy(const long &info[])
{
   long pi[16]; uchar t[512];
   long v = decp_rx_policy_info(g_rx, pi, 16, t, 512);
   if(info[1] < 0) { PrintFormat("decp: copy policy version %I64d REFUSED (another master or invalid): version %I64d stays", info[0], v); return; }
   if(info[1] == 0) return;   // the version already in force (every Subscribe sends it)
   PrintFormat("decp: copy policy version %I64d of subscription %I64d applied: lot mode %I64d (fixed %I64d, x%I64d/1000, equity %I64d, risk %I64d bp), reverse %I64d, SL %I64d, TP %I64d, modify %I64d, types 0x%I64x, deviation %I64d/100 pips, equity floor %I64d, drawdown %I64d bp, close all %I64d; %s",
               v, pi[1], pi[2], pi[3], pi[4], pi[5], pi[6], pi[7], pi[8], pi[9], pi[10], pi[11], pi[12],
               pi[13], pi[14], pi[15], CharArrayToString(t));
}

// master's volume per copied ticket (needed for partial closes), kept in global variables
string GvMv(long t) { return "decp.rx." + IntegerToString(InpMasterId) + ".mv." + IntegerToString(t); }

// The view of a broker symbol decp_rx_check and decp_rx_resync_quote take: quote, volume
// spec, pip value, wallet and equity (view[0..8]), the symbol's quote rate (view[12]) and
// contract size (view[13]: the guard converts the master's lots to it). gp: the guard's pip
// (1e-5) of the MASTER's instrument, as decp_rx_message / decp_rx_resync_entry give it.
void SymbolView(string sym, long gp, long &view[])
{
   MqlTick tick;
   // a symbol not in Market Watch has no live quote (nor a tradable one on some terminals)
   if(sym == "" || !SymbolSelect(sym, true) || !SymbolInfoTick(sym, tick)) { tick.bid = 0; tick.ask = 0; }
   double tv = SymbolInfoDouble(sym, SYMBOL_TRADE_TICK_VALUE), ts = SymbolInfoDouble(sym, SYMBOL_TRADE_TICK_SIZE);
   // RISK_PERCENT sizing divides by money per the guard's pip of the master's instrument
   // (gold 0.1, BTC 1.0), whatever the broker calls it (a mapped GOLD). 0: the guard does
   // not know the instrument (it refuses it), so no pip value is guessed.
   double pip = gp / 100000.0;
   view[0] = Px(tick.bid); view[1] = Px(tick.ask);
   view[2] = Lots(SymbolInfoDouble(sym, SYMBOL_VOLUME_MIN));
   view[3] = Lots(SymbolInfoDouble(sym, SYMBOL_VOLUME_MAX));
   view[4] = Lots(SymbolInfoDouble(sym, SYMBOL_VOLUME_STEP));
   view[5] = ts > 0 ? Money(tv * pip / ts) : 0;
   view[6] = Money(AccountInfoDouble(ACCOUNT_BALANCE));   // wallet: see docs/mt5.md
   view[7] = 0;
   view[8] = Money(AccountInfoDouble(ACCOUNT_EQUITY));
   view[12] = QuoteRate(sym);
   // units per 1.00 lot at this broker (1e-4): a master's lot of gold at 100 oz is 100 lots
   // of a 1 oz contract; 0 (unknown) leaves the master's lots as they are
   double cs = SymbolInfoDouble(sym, SYMBOL_TRADE_CONTRACT_SIZE);
   view[13] = cs > 0 ? (long)MathRound(cs * 10000.0) : 0;
}

// decp.OrderType of a broker pending order type (0: not pending)
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

// Re-sync by snapshot (docs/mt5.md "Re-sync by snapshot"): decp_rx_message returned 12, the
// master's book at S verified with the platform's key. Done at once, before the next message:
// the guard executes nothing until decp_rx_resync_done.
void Resync()
{
   long ei[9], view[14], act[13];
   uchar sym[40], fr[256];
   int n = 0;
   for(int i = 0; decp_rx_resync_entry(g_rx, i, ei, 9, sym, 40) == 1; i++)
   {
      string s = CharArrayToString(sym);
      if(s == "") continue;
      // each symbol's own rate for the margin of its OPENs (view[12]): one AccountState
      // carries one, and without it every instrument without the account currency was SKIPped
      SymbolView(s, ei[8], view);
      if(decp_rx_resync_quote(g_rx, s, view, 14) < 0) break;
   }
   if(AccountToGuard("") == 2) CloseAll();   // the account now: the OPENs' margin
   for(int i = PositionsTotal() - 1; i >= 0; i--)   // this EA's copies (magic, "decp:<ticket>" or kept)
   {
      ulong pt = PositionGetTicket(i);
      long mt = MasterOf(PositionGetString(POSITION_COMMENT), pt);
      if(PositionGetInteger(POSITION_MAGIC) != InpMagic || mt <= 0) continue;
      if(decp_rx_resync_held(g_rx, mt, PositionGetString(POSITION_SYMBOL),
                             PositionGetInteger(POSITION_TYPE) == POSITION_TYPE_BUY ? 1 : 2,
                             Lots(PositionGetDouble(POSITION_VOLUME)), Px(PositionGetDouble(POSITION_PRICE_OPEN)),
                             Px(PositionGetDouble(POSITION_SL)), Px(PositionGetDouble(POSITION_TP))) > 0 &&
         GlobalVariableCheck(GvMv(mt)))   // the master's volume the copy follows (kept per copy)
         decp_rx_resync_held_master(g_rx, mt, (long)GlobalVariableGet(GvMv(mt)));
   }
   for(int i = OrdersTotal() - 1; i >= 0; i--)
   {
      ulong ot = OrderGetTicket(i);
      long mt = MasterOf(OrderGetString(ORDER_COMMENT), ot);
      int type = PendingType((ENUM_ORDER_TYPE)OrderGetInteger(ORDER_TYPE));
      if(OrderGetInteger(ORDER_MAGIC) != InpMagic || mt <= 0 || type == 0) continue;
      decp_rx_resync_held(g_rx, mt, OrderGetString(ORDER_SYMBOL), type,
                          Lots(OrderGetDouble(ORDER_VOLUME_CURRENT)), Px(OrderGetDouble(ORDER_PRICE_OPEN)),
                          Px(OrderGetDouble(ORDER_SL)), Px(OrderGetDouble(ORDER_TP)));
   }
   n = decp_rx_resync_plan(g_rx);
   // no plan, no ResyncDone: the guard would stay DEGRADED_GAP on this connection for good
   if(n < 0) { Log("re-sync plan", n); Disconnect("re-sync not planned"); return; }
   g_trade.SetExpertMagicNumber(InpMagic);
   int failed = 0;
   for(int i = 0; i < n; i++)
   {
      int op = decp_rx_resync_action(g_rx, i, act, 13, sym, 40);
      string s = CharArrayToString(sym), tag = Tag(act[6]);
      if(s != "") g_trade.SetTypeFillingBySymbol(s);
      double vol = 0, lots = act[2] / 100.0, price = act[3] / 100000.0, sl = act[4] / 100000.0, tp = act[5] / 100000.0;
      ulong pos = FindPosition(act[6], vol), ord = pos == 0 ? FindOrder(act[6]) : 0;
      bool ok = true;
      if(op == 1) ok = pos != 0 ? g_trade.PositionClose(pos) : g_trade.OrderDelete(ord);
      else if(op == 2) ok = g_trade.PositionClosePartial(pos, lots);
      else if(op == 3) ok = pos != 0 ? g_trade.PositionModify(pos, sl, tp)
                                     : g_trade.OrderModify(ord, price, sl, tp, ORDER_TIME_GTC, 0);
      else if(op == 4)
      {
         datetime expiry;
         ENUM_ORDER_TYPE_TIME tif = CopyTimeType(s, act[7], expiry);   // act[7]: the expiration, UTC ns
         switch((int)act[1])
         {
            case 1: ok = g_trade.Buy(lots, s, 0, sl, tp, tag); break;
            case 2: ok = g_trade.Sell(lots, s, 0, sl, tp, tag); break;
            case 3: ok = g_trade.BuyLimit(lots, price, s, sl, tp, tif, expiry, tag); break;
            case 4: ok = g_trade.SellLimit(lots, price, s, sl, tp, tif, expiry, tag); break;
            case 5: ok = g_trade.BuyStop(lots, price, s, sl, tp, tif, expiry, tag); break;
            case 6: ok = g_trade.SellStop(lots, price, s, sl, tp, tif, expiry, tag); break;
         }
      }
      else if(op == 5)
         PrintFormat("decp: re-sync: master ticket %I64d not copied: reason %I64d (filter %I64d, deviation %I64d/100 pips)",
                     act[6], act[9], act[10], act[11]);
      if(ok && (op == 2 || op == 4)) GlobalVariableSet(GvMv(act[6]), (double)act[8]);   // the master's volume now
      if(ok && op == 4) KeepCopy(act[6]);
      if(!ok) { failed++; PrintFormat("decp: re-sync: %d on master ticket %I64d failed: %d", op, act[6], g_trade.ResultRetcode()); }
   }
   // an action that failed leaves the account out of line: no ResyncDone (the guard stays
   // DEGRADED_GAP, nothing executes); the reconnect gets a new snapshot, planned afresh.
   // An action that fails every time (a pending price the market has passed at this
   // broker, a closed market, a volume the broker refuses) would keep every later signal
   // from executing, the master's closes of the copies held included: after
   // DECP_RESYNC_TRIES plans in a row with a failure, go on live without it (logged; the
   // next re-sync tries it again)
   if(failed > 0 && ++g_resync_failed < DECP_RESYNC_TRIES)
   { PrintFormat("decp: re-sync: %d action(s) failed: asking again", failed); Disconnect("re-sync incomplete"); return; }
   if(failed > 0)
      PrintFormat("decp: re-sync: %d action(s) failed in %d re-syncs in a row: going on live without them; the account differs from the master's by them", failed, g_resync_failed);
   g_resync_failed = 0;
   n = decp_rx_resync_done(g_rx, fr, 256);
   if(n < 0) { Log("re-sync done", n); Disconnect("re-sync not done"); return; }
   Send(fr, n);
   long st[6];
   if(decp_rx_state(g_rx, st, 6) == 0) GlobalVariableSet(GvLast(), (double)st[1]);
   SendAccount();
}

void OnEnvelope(const long &info[], string sym)
{
   long view[14], v[17];
   uchar os[40];
   double vol = 0;
   long ticket = info[7];
   ulong pos = FindPosition(ticket, vol), ord = pos == 0 ? FindOrder(ticket) : 0;
   SymbolView(sym, info[12], view);
   // an opening of a ticket this EA placed a copy of before (its master volume is kept) is
   // held even when the terminal lists the copy nowhere for a moment (a pending copy
   // filling as the master's fill is signalled) or the copy was closed at this broker
   // already (its own SL): never a second copy
   view[9] = pos != 0 || ord != 0 ||
             (info[2] >= 1 && info[2] <= 6 && GlobalVariableCheck(GvMv(ticket))) ? 1 : 0;
   view[10] = pos != 0 ? Lots(vol) : ord != 0 ? Lots(OrderGetDouble(ORDER_VOLUME_CURRENT)) : 0;
   // the master's volume the copy follows; unknown (0): the guard refuses a partial close
   // (FILTERED, sizing) rather than guess from the copy's own volume
   view[11] = GlobalVariableCheck(GvMv(ticket)) ? (long)GlobalVariableGet(GvMv(ticket)) : 0;
   if(AccountToGuard(sym) == 2) CloseAll();   // the account now, with this symbol's quote rate
   int reason = decp_rx_check(g_rx, NowNs(), view, 14, v, 17, os, 40);
   // a signal from the "future": the clock estimate was wrong and is dropped; measure now
   if(v[16] == 1) g_last_ping = 0;
   uchar fr[1024];
   // the guard's sequence is persisted before anything is executed: a terminal that dies
   // between the two loses this signal (the next re-sync brings the account in line), it
   // never executes it twice
   long st[6];
   if(reason >= 0 && decp_rx_state(g_rx, st, 6) == 0) { GlobalVariableSet(GvLast(), (double)st[1]); GlobalVariablesFlush(); }
   if(reason != 0)
   {
      if(reason > 0 && reason != 1)   // a replayed duplicate is not an incident
         Send(fr, decp_rx_protection(g_rx, NowNs(), fr, 1024));
      // a signal too old to execute used up its sequence: ask for the master's book on this
      // connection (re-sync on, once per 5 s), so a copy he closed meanwhile does not stay
      // open; one whose age is unknown or that was refused while halted is asked by
      // AskResync on the timer, once the DLL says it may be
      AskResync();
      if(reason < 0) Log("check", reason);
      if(v[15] == 1) CloseAll();
      return;
   }
   string osym = CharArrayToString(os);
   double lots = v[4] / 100.0, price = v[5] / 100000.0, sl = v[6] / 100000.0, tp = v[7] / 100000.0;
   bool ok = false; int status = 1;
   g_trade.SetExpertMagicNumber(InpMagic);
   g_trade.SetTypeFillingBySymbol(osym);   // the broker's filling mode (FOK, IOC or RETURN)
   // slippage a market order may take: the policy's deviation (CTrade's default of 10
   // points, 1 pip, has instant/request-execution brokers requote, and a requoted copy is
   // not retried), in points of the guard's pip of the master's instrument
   long pi[16]; uchar pt[8];
   double point = SymbolInfoDouble(osym, SYMBOL_POINT);
   double dev = InpMaxDevPips * 100.0;   // pips x 100; the policy's when it sets one
   if(decp_rx_policy_info(g_rx, pi, 16, pt, 8) >= 0 && pi[12] > 0) dev = MathMin((double)pi[12], dev);
   if(point > 0 && info[12] > 0 && dev > 0)
      g_trade.SetDeviationInPoints((ulong)MathCeil(dev / 100.0 * info[12] / 100000.0 / point));
   datetime expiry;
   ENUM_ORDER_TYPE_TIME tif = CopyTimeType(osym, v[10], expiry);   // v[10]: the expiration, UTC ns
   switch((int)v[3])
   {
      case 1: ok = g_trade.Buy(lots, osym, 0, sl, tp, Tag(ticket)); break;
      case 2: ok = g_trade.Sell(lots, osym, 0, sl, tp, Tag(ticket)); break;
      case 3: ok = g_trade.BuyLimit(lots, price, osym, sl, tp, tif, expiry, Tag(ticket)); status = 3; break;
      case 4: ok = g_trade.SellLimit(lots, price, osym, sl, tp, tif, expiry, Tag(ticket)); status = 3; break;
      case 5: ok = g_trade.BuyStop(lots, price, osym, sl, tp, tif, expiry, Tag(ticket)); status = 3; break;
      case 6: ok = g_trade.SellStop(lots, price, osym, sl, tp, tif, expiry, Tag(ticket)); status = 3; break;
      case 7: ok = pos != 0 ? g_trade.PositionClose(pos) : g_trade.OrderDelete(ord); status = 5; break;
      case 8: ok = pos != 0 ? g_trade.PositionModify(pos, sl, tp)
                            : g_trade.OrderModify(ord, price, sl, tp, ORDER_TIME_GTC, 0); status = 4; break;
      case 9: ok = g_trade.PositionClosePartial(pos, lots); status = 5; break;
   }
   ok = ok && (g_trade.ResultRetcode() == TRADE_RETCODE_DONE || g_trade.ResultRetcode() == TRADE_RETCODE_PLACED ||
               g_trade.ResultRetcode() == TRADE_RETCODE_DONE_PARTIAL);
   if(ok && v[3] >= 1 && v[3] <= 6) { GlobalVariableSet(GvMv(ticket), (double)info[3]); KeepCopy(ticket); }
   if(ok && v[3] == 9) GlobalVariableSet(GvMv(ticket), (double)(view[11] - info[3]));
   if(!ok && v[3] == 7) RetryLater(pos, ord);
   int n = decp_rx_report(g_rx, ok ? status : 6, ok ? Lots(g_trade.ResultVolume()) : 0,
                          ok ? Px(g_trade.ResultPrice()) : 0, (long)g_trade.ResultOrder(),
                          (int)g_trade.ResultRetcode(), 0, NowNs(), fr, 1024);
   Send(fr, n);   // kept by the DLL until acknowledged: a failed send is resent after the reconnect
   SendAccount();
}

// A re-sync the DLL says is owed and may be asked now (decp_rx_resync_ask, ABI 9): after a
// stale signal at once; after one from the "future" 300 ms later; after signals consumed
// while the subscription was halted (no funds) once it is SYNCED again; asked again every
// 5 s until the snapshot comes. Sent on the open connection.
void AskResync()
{
   uchar fr[256];
   if(g_sock == INVALID_HANDLE || !g_subscribed) return;
   int ask = decp_rx_resync_ask(g_rx, NowNs(), fr, 256);
   if(ask > 0 && Send(fr, ask))
      Print("decp: re-sync asked: signals consumed without being executed (stale, clock, or while halted)");
   else if(ask < 0) Log("re-sync ask", ask);
}

void RetryLater(ulong pos, ulong ord)
{
   int n;
   if(pos != 0) { n = ArraySize(g_retry_pos); ArrayResize(g_retry_pos, n + 1); g_retry_pos[n] = pos; }
   else if(ord != 0) { n = ArraySize(g_retry_ord); ArrayResize(g_retry_ord, n + 1); g_retry_ord[n] = ord; }
   PrintFormat("decp: close of copy %I64u failed (%d): retried every %d s while it exists",
               pos != 0 ? pos : ord, g_trade.ResultRetcode(), DECP_CLOSE_RETRY_SEC);
}

bool TradeDone()
{
   uint rc = g_trade.ResultRetcode();
   return rc == TRADE_RETCODE_DONE || rc == TRADE_RETCODE_PLACED || rc == TRADE_RETCODE_DONE_PARTIAL;
}

// The failed closes again; a copy gone (closed here, by its SL/TP or by hand) is dropped.
void RetryCloses()
{
   if(TimeLocal() - g_last_retry < DECP_CLOSE_RETRY_SEC) return;
   g_last_retry = TimeLocal();
   g_trade.SetExpertMagicNumber(InpMagic);
   for(int i = ArraySize(g_retry_pos) - 1; i >= 0; i--)
   {
      ulong t = g_retry_pos[i];
      if(PositionSelectByTicket(t))
      {
         g_trade.SetTypeFillingBySymbol(PositionGetString(POSITION_SYMBOL));
         if(!g_trade.PositionClose(t) || !TradeDone()) continue;
         PrintFormat("decp: copy %I64u closed on retry", t);
      }
      g_retry_pos[i] = g_retry_pos[ArraySize(g_retry_pos) - 1]; ArrayResize(g_retry_pos, ArraySize(g_retry_pos) - 1);
   }
   for(int i = ArraySize(g_retry_ord) - 1; i >= 0; i--)
   {
      ulong t = g_retry_ord[i];
      if(OrderSelect(t) && (!g_trade.OrderDelete(t) || !TradeDone())) continue;
      g_retry_ord[i] = g_retry_ord[ArraySize(g_retry_ord) - 1]; ArrayResize(g_retry_ord, ArraySize(g_retry_ord) - 1);
   }
}

// Equity protection: every copy closed and every pending copy deleted; OnTimer calls it again
// while the protection stays tripped, so a close that failed is retried.
void CloseAll()
{
   g_trade.SetExpertMagicNumber(InpMagic);
   for(int i = PositionsTotal() - 1; i >= 0; i--)
   {
      ulong t = PositionGetTicket(i);
      if(PositionGetInteger(POSITION_MAGIC) == InpMagic) g_trade.PositionClose(t);
   }
   for(int i = OrdersTotal() - 1; i >= 0; i--)
   {
      ulong t = OrderGetTicket(i);
      if(OrderGetInteger(ORDER_MAGIC) == InpMagic) g_trade.OrderDelete(t);
   }
}

void OnServerMessage(const uchar &p[], int n)
{
   long info[13]; uchar sym[40];
   int k = decp_rx_message(g_rx, p, n, NowNs(), info, 13, sym, 40);
   uchar fr[256];
   if(k == 4 && !g_subscribed)             // clock known: subscribe from the guard's next sequence,
   {                                       // then the account and the unacknowledged reports
      g_subscribed = Send(fr, decp_rx_subscribe(g_rx, fr, 256));
      if(g_subscribed) { SendAccount(); ResendUnacked(); }
   }
   else if(k == 8) LogPolicy(info);        // the subscription's copy policy (applied by the DLL)
   else if(k == 9) PrintFormat("decp: re-sync: the master's positions at %I64d (%I64d entries) instead of a stale replay", info[1], info[2]);
   else if(k == 12) Resync();              // verified with the platform's key: reconcile now
   else if(k == DECP_E_SNAPSHOT_CODE || k == DECP_E_BADSIG_CODE)
   {                                       // refused: nothing reconciled, nothing executes; ask again
      Log("re-sync snapshot REFUSED (reason " + IntegerToString(info[2]) + ")", k);
      Disconnect("snapshot refused");
   }
   else if(k == 1) OnEnvelope(info, CharArrayToString(sym));
   else if(k == 5) PrintFormat("decp: subscription state %d -> %d", info[2], info[3]);
   else if(k == 6 && info[0] == 11 && info[3] == 1)
   {                                       // CODE_RANGE: trimmed signals never come; go on live
      PrintFormat("decp: signals %I64d..%I64d no longer retained: live from the stream's end; the account may differ from the master's by them",
                  info[1], info[2] > info[1] ? info[2] - 1 : info[1]);
      if(!Send(fr, decp_rx_subscribe(g_rx, fr, 256))) Disconnect("subscribe failed");
   }
   else if(k == 6) { PrintFormat("decp: server error %d", info[0]); Disconnect("server error"); }
   else if(k == 10)                        // the master's new signing key (checked by the DLL)
   { if(info[1] == 1) PrintFormat("decp: master %I64d announced a new signing key: accepted (signed by the trusted key)", info[0]);
     else if(info[1] < 0) PrintFormat("decp: master %I64d key announcement REFUSED (not signed by the trusted key): InpMasterPubHex stays", info[0]); }
   else if(k < 0)  Log("server message", k);
}

void OnTimer()
{
   if(g_sock == INVALID_HANDLE)
   {
      if(GetTickCount64() - g_down_ms >= g_retry_ms) Connect();
      return;
   }
   if(!SocketIsConnected(g_sock)) { Disconnect("closed by peer"); return; }
   uint avail = SocketIsReadable(g_sock);
   if(avail > 0)
   {
      uchar tmp[];
      int k = InpTls ? SocketTlsReadAvailable(g_sock, tmp, 1048576) : SocketRead(g_sock, tmp, avail, 100);
      if(k > 0) { ArrayResize(g_in, g_in_len + k); ArrayCopy(g_in, tmp, g_in_len, 0, k); g_in_len += k; g_last_rx = TimeLocal(); }
   }
   // a silent connection (network gone, server hung) never closes: nothing arrived for two
   // TimePing periods (each answered by a TimePong), or no upgrade within 10 s
   if((!g_upgraded && TimeLocal() - g_last_rx > 10) || TimeLocal() - g_last_rx > 2 * InpTimeSyncSec + 5)
   { Disconnect("nothing received from the server"); return; }
   if(!g_upgraded)
   {
      int h = decp_ws_response(g_rx, g_in, g_in_len);
      if(h == 0) return;
      if(h < 0) { Log("WebSocket upgrade", h); Disconnect("upgrade refused"); return; }
      Consume(g_in, g_in_len, h);
      g_upgraded = true; g_last_ping = 0;
   }
   uchar fr[256];
   // every InpTimeSyncSec; every second while the clock estimate is none or its error bound
   // (st[16], ns) is over half the TTL: the guard refuses every signal while it exceeds the TTL
   long cs[17];
   long ttl_ms = InpTtlMs > 0 ? InpTtlMs : 500;
   bool poor = decp_rx_state(g_rx, cs, 17) == 0 && (cs[16] < 0 || cs[16] > ttl_ms * 500000);
   if(TimeLocal() - g_last_ping >= (poor ? 1 : InpTimeSyncSec))
   { Send(fr, decp_rx_time_ping(g_rx, NowNs(), fr, 256)); g_last_ping = TimeLocal(); }
   for(;;)
   {
      long wi[4];
      int fl = decp_ws_decode(g_in, g_in_len, wi, 4);
      if(fl == 0) break;
      if(fl < 0) { Log("WebSocket frame", fl); Disconnect("bad frame"); return; }
      uchar p[]; ArrayCopy(p, g_in, 0, (int)wi[1], (int)wi[2]);
      if(wi[0] == 2) OnServerMessage(p, (int)wi[2]);
      else if(wi[0] == 9) { uchar pong[200]; Send(pong, decp_ws_encode(10, p, (int)wi[2], pong, 200)); }
      else if(wi[0] == 8) { Disconnect("closed by the server"); return; }
      if(g_sock == INVALID_HANDLE) return;
      Consume(g_in, g_in_len, fl);
   }
   int bits = decp_rx_account(g_rx, Money(AccountInfoDouble(ACCOUNT_BALANCE)), 0,
                              Money(AccountInfoDouble(ACCOUNT_EQUITY)));
   // tripped now, or still tripped under a policy that closes everything (retries what failed)
   long trip[16], pi[16]; uchar pt[8];
   bool have = decp_rx_state(g_rx, trip, 16) == 0;
   if(have && (trip[15] != g_saved_peak || trip[10] != g_saved_trip))   // kept over a restart
   {
      GlobalVariableSet(GvPeak(), (double)trip[15]); GlobalVariableSet(GvTrip(), (double)trip[10]);
      g_saved_peak = trip[15]; g_saved_trip = trip[10];
   }
   if((bits > 0 && (bits & 2) != 0) ||
      (have && trip[10] == 1 && decp_rx_policy_info(g_rx, pi, 16, pt, 8) >= 0 && pi[15] == 1))
      CloseAll();
   if(g_subscribed && TimeLocal() - g_last_account >= InpAccountSec) SendAccount();
   // bits & 1: the funds returned (LOCKED_NO_FUNDS -> SYNCED): the signals refused while
   // locked are owed a re-sync; AskResync every tick sends it (and a deferred or
   // unanswered one) as soon as the DLL allows
   if(bits > 0 && (bits & 1) != 0) Print("decp: funds restored: subscription SYNCED again");
   AskResync();
   RetryCloses();
}

int OnInit()
{
   uchar pub[];
   if(decp_version() != 9) { Print("decp: decp.dll version ", decp_version(), ", expected 9"); return INIT_FAILED; }
   if(InpMasterId <= 0 || Hex(InpMasterPubHex, pub, 32) != 32)
   { Print("decp: set InpMasterId and InpMasterPubHex (64 hex digits)"); return INIT_PARAMETERS_INCORRECT; }
   if(AccountInfoInteger(ACCOUNT_MARGIN_MODE) != ACCOUNT_MARGIN_MODE_RETAIL_HEDGING)
   { Print("decp: a hedging account is needed: copies are kept one position per master ticket"); return INIT_FAILED; }
   long last = GlobalVariableCheck(GvLast()) ? (long)GlobalVariableGet(GvLast()) : 0;
   g_rx = decp_rx_new(InpMasterId, pub, 32, last, InpTtlMs);
   if(g_rx <= 0) { Log("rx_new", (int)g_rx); return INIT_FAILED; }
   // equity protection as it was when the EA stopped: a trip stays a trip (no copies until
   // the user re-arms), the drawdown counts from the saved peak, not the reduced equity
   g_saved_peak = -1; g_saved_trip = -1;
   if(InpEquityRearm)
   {
      GlobalVariableDel(GvPeak()); GlobalVariableDel(GvTrip());
      Print("decp: equity protection re-armed (InpEquityRearm): the saved trip and peak are forgotten");
   }
   else if(GlobalVariableCheck(GvPeak()))
   {
      long peak = (long)GlobalVariableGet(GvPeak());
      int tripped = GlobalVariableCheck(GvTrip()) && GlobalVariableGet(GvTrip()) == 1.0 ? 1 : 0;
      int er = decp_rx_equity_restore(g_rx, peak, tripped);
      if(er != 0) Log("equity restore", er);
      else if(tripped == 1)
         Print("decp: equity protection is still tripped (saved): no new copies until re-armed (InpEquityRearm = true for one start)");
   }
   if(InpPlatformPubHex != "")   // re-sync by snapshot: only with the key that verifies them
   {
      uchar ppub[];
      if(Hex(InpPlatformPubHex, ppub, 32) != 32) { Print("decp: InpPlatformPubHex: 64 hex digits"); return INIT_PARAMETERS_INCORRECT; }
      if(InpTtlMs > 0 && InpTtlMs < 300)   // DECP_RX_RESYNC_ASK_AGE_MS
      { Print("decp: re-sync needs InpTtlMs >= 300: a signal refused as stale at a younger age could not be re-synced"); return INIT_PARAMETERS_INCORRECT; }
      int rs = decp_rx_resync(g_rx, ppub, 32);
      if(rs != 0) { Log("re-sync", rs); return INIT_PARAMETERS_INCORRECT; }
   }
   long lot = InpLotMode == 1 ? Lots(InpLotValue) : InpLotMode == 2 ? (long)MathRound(InpLotValue * 1000)
            : InpLotMode == 3 ? Money(InpLotValue) : (long)MathRound(InpLotValue * 100);
   int rc = decp_rx_policy(g_rx, InpLotMode, lot, InpReverse, InpCopySL, InpCopyTP, InpPending,
                           (long)MathRound(InpMaxDevPips * 100), InpSymbolPrefix, InpSymbolSuffix);
   if(rc != 0) { Log("copy policy", rc); return INIT_PARAMETERS_INCORRECT; }
   MathSrand((uint)GetTickCount() ^ (uint)AccountInfoInteger(ACCOUNT_LOGIN));   // the reconnect's jitter
   g_retry_ms = 0;
   EventSetMillisecondTimer(10);
   Connect();
   return INIT_SUCCEEDED;
}

void OnDeinit(const int reason)
{
   long st[11];
   EventKillTimer();
   if(g_rx > 0 && decp_rx_state(g_rx, st, 11) == 0 && st[6] > 0)
      PrintFormat("decp: %I64d reports not acknowledged by the server are lost with the EA", st[6]);
   if(g_sock != INVALID_HANDLE) SocketClose(g_sock);
   if(g_rx > 0) decp_handle_free(g_rx);
   // a chart's symbol/period or input change runs OnDeinit/OnInit without unloading the EA:
   // its globals keep their values (a connection state of the closed socket)
   g_sock = INVALID_HANDLE; g_upgraded = false; g_subscribed = false; g_in_len = 0; g_rx = 0;
}
