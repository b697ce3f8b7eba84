//! Host tests of the whole core over simulated memory (filled in below).
