/*
 * guard: the subscriber-side ExecutionGuard, one include for hosts (decp-subscriber,
 * the MetaTrader DLL). Design and reference: docs/guard.md.
 *
 *   guard_types.h   scales, enums (order types, reasons, states)
 *   guard_signal.h  envelope / local view / translated order structs
 *   guard_clock.h   server clock offset from TimePing/TimePong
 *   guard_sub.h     subscription state machine (seed diagram), exactly-once sequence
 *   guard_policy.h  copy policy: mapping, sizing, reverse, filters, equity protection
 *   guard_check.h   guard_signal_check(): the seed's check pipeline
 *   guard_trust.h   trust score rule table, auto-pause / recovery
 *   guard_fee.h     HWM performance fee
 *   guard_symbol.h  instrument names, broker decorations
 *   guard_instrument.h  instrument registry (digits, point, pip, contract size)
 *   guard_verify.h  signature seam; guard_ed25519.h its OpenSSL implementation
 */
#ifndef DECP_GUARD_H
#define DECP_GUARD_H

#include "guard_check.h"
#include "guard_clock.h"
#include "guard_ed25519.h"
#include "guard_fee.h"
#include "guard_instrument.h"
#include "guard_margin.h"
#include "guard_policy.h"
#include "guard_resync.h"
#include "guard_signal.h"
#include "guard_sub.h"
#include "guard_symbol.h"
#include "guard_trust.h"
#include "guard_types.h"
#include "guard_verify.h"

#endif
