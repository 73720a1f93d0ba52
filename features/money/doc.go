// Package money converts transaction amounts into one reporting currency, so that rules, sums and a customer's
// spend profile compare like with like: 1,000 JPY and 1,000 EUR are not the same purchase.
//
// Terms:
//   - reporting currency: the one currency every amount is converted into (the table's base); EUR in the
//     embedded table.
//   - rate: how many units of the reporting currency one unit of a currency is worth.
//   - Rates: an immutable table of rates, parsed from a rates file (Parse) or the embedded default
//     (Default). The caller publishes a new table with an atomic pointer swap; Convert never allocates.
package money
