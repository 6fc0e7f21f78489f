// decp.mqh: decp.dll's #import block. GENERATED from tools/mt5/decp_dll.h by
// tools/mt5/gen_mqh.py; do not edit (the mt5 suite fails when they disagree).
// Reference: docs/mt5.md.
#property strict

#import "decp.dll"
int decp_version();
long decp_now_ns();
long decp_pip(string symbol);
int decp_strerror(int code, uchar &out[], int out_cap);
int decp_handle_free(long handle);
int decp_hmac_sha256(const uchar &key[], int key_len, const uchar &msg[], int msg_len, uchar &mac[], int mac_cap);
int decp_ed25519_public(const uchar &seed[], int seed_len, uchar &pub[], int pub_cap);
int decp_ed25519_sign(const uchar &seed[], int seed_len, const uchar &msg[], int msg_len, uchar &sig[], int sig_cap);
int decp_ed25519_verify(const uchar &pub[], int pub_len, const uchar &msg[], int msg_len, const uchar &sig[], int sig_len);
int decp_frame_split(const uchar &buf[], int len, int max_payload);
long decp_master_new(long master_id, const uchar &hmac_key[], int key_len, const uchar &seed[], int seed_len);
int decp_master_hello(long master, string client_version, uchar &out[], int out_cap);
int decp_master_login_proof(long master, string token, const uchar &challenge[], int len, uchar &out[], int out_cap);
int decp_master_signal(long master, long sequence, string symbol, int order_type, long volume, long price, long sl, long tp, long position_ticket, long master_time_ns, long expiration_ns, uchar &out[], int out_cap);
int decp_master_heartbeat(long time_ns, uchar &out[], int out_cap);
int decp_master_position(long master, long ticket, string symbol, int type, long volume, long price, long sl, long tp, long expiration_ns);
int decp_master_positions(long master, long sequence, long snapshot_id, long master_time_ns, uchar &out[], int out_cap);
int decp_ingest_decode(const uchar &payload[], int len, long &fields[], int nfields);
long decp_rx_new(long master_id, const uchar &master_pub[], int pub_len, long last_seq, long ttl_ms);
int decp_rx_policy(long rx, int lot_mode, long lot_value, int reverse, int copy_sl, int copy_tp, int pending, long max_dev_pips_x100, string prefix, string suffix);
long decp_rx_policy_info(long rx, long &info[], int ninfo, uchar &text[], int text_cap);
int decp_ws_request(long rx, string host, int port, string path, string token, uchar &out[], int out_cap);
int decp_ws_response(long rx, const uchar &buf[], int len);
int decp_ws_decode(const uchar &buf[], int len, long &info[], int ninfo);
int decp_ws_encode(int opcode, const uchar &payload[], int len, uchar &out[], int out_cap);
int decp_rx_subscribe(long rx, uchar &out[], int out_cap);
int decp_rx_resync_ask(long rx, long local_now_ns, uchar &out[], int out_cap);
int decp_rx_time_ping(long rx, long local_now_ns, uchar &out[], int out_cap);
int decp_rx_message(long rx, const uchar &payload[], int len, long local_now_ns, long &info[], int ninfo, uchar &symbol[], int sym_cap);
int decp_rx_resync(long rx, const uchar &platform_pub[], int pub_len);
int decp_rx_resync_entry(long rx, int index, long &info[], int ninfo, uchar &symbol[], int sym_cap);
int decp_rx_resync_held(long rx, long master_ticket, string symbol, int type, long volume, long price, long sl, long tp);
int decp_rx_resync_held_master(long rx, long master_ticket, long master_volume);
int decp_rx_resync_quote(long rx, string symbol, const long &view[], int nview);
int decp_rx_resync_plan(long rx);
int decp_rx_resync_action(long rx, int index, long &act[], int nact, uchar &symbol[], int sym_cap);
int decp_rx_resync_done(long rx, uchar &out[], int out_cap);
int decp_rx_check(long rx, long local_now_ns, const long &view[], int nview, long &verdict[], int nverdict, uchar &order_symbol[], int sym_cap);
int decp_rx_report(long rx, int status, long volume, long price, long broker_ticket, int retcode, long profit, long exec_local_ns, uchar &out[], int out_cap);
int decp_rx_protection(long rx, long local_now_ns, uchar &out[], int out_cap);
int decp_rx_unacked(long rx, int index, uchar &out[], int out_cap);
int decp_rx_account_state(long rx, string currency, int leverage, long balance, long equity, long margin, long free_margin, int position_count, long quote_rate);
int decp_rx_account_position(long rx, long master_id, long master_ticket, string symbol, int type, long volume, long price, long sl, long tp, long profit);
int decp_rx_account_frame(long rx, long local_now_ns, uchar &out[], int out_cap);
int decp_rx_account(long rx, long balance, long reserved, long equity);
int decp_rx_state(long rx, long &st[], int n);
int decp_rx_equity_restore(long rx, long peak_equity, int tripped);
#import
