/**
 * About how much of its rows' JSON one page of a list of large rows holds (workflow definitions,
 * each up to a request body; message contents, each up to MAX_MESSAGE_CHARS): a page stops short
 * of `limit` once its rows reach this. The store reads such a page a row at a time and stops
 * there (SizedPage), so no order of small and large rows makes it read more. Found by the
 * hostile-input sweep: 100 versions of a workflow of 0.9 MB were read, parsed and answered as one
 * 89 MB body, holding the event loop — every tenant's requests — for 1.2–1.8 s; and a read sized
 * from the mean of the rows read so far still read 72 MB at once (200–400 ms of stall) when three
 * tiny messages came before 45 of 1.6 MB.
 */
export const PAGE_BYTES = 1024 * 1024;
