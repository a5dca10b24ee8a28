// Package roundtrip holds only tests: the translate→translate-back fixed
// points between each client dialect and the provider adapter that speaks
// the same wire format. A request decoded by a dialect, translated by the
// adapter (as it would be for a client of the other dialect) and decoded
// again must be the same neutral request; a response decoded by an
// adapter, written by the dialect and decoded again must be the same
// neutral response. Both are fuzzed from the recorded fixtures.
//
// The tests import dialects and providers together, which no production
// package may do (see ARCHITECTURE.md); the package has no other code.
package roundtrip
