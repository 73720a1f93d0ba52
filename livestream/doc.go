// Package livestream hands decisions to live viewers (the console's stream of decisions) off the request path.
//
// Terms. The Hub owns a ring of fixed-size Entries: a decision's log record (decisionlog.Record) and what a
// viewer sees beside it (the address, the reasons, the time taken). Publish, called by the engine on every
// decision while a viewer is connected, copies one entry into the next slot and returns: no allocation, no
// channel, a slot lock held for a copy, nothing that waits on a viewer. With no viewer connected the engine
// pays one atomic load (Active). One fan-out goroutine, running only while viewers are connected, reads the
// ring behind the writers, matches each entry against every Viewer's Filter, renders the JSON of a matched
// entry once and queues it to each viewer that matched. A viewer whose queue is full, or that is past its
// rate, loses the message: it is counted (Dropped, and per viewer), never waited for.
package livestream
