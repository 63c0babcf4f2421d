#!/usr/bin/env bash
# test_l7_edges_pipe - test_l7_edges on the L7 lane's splice(2) path (--splice pipe).
L7_SPLICE=pipe exec bash "$(dirname "$0")/test_l7_edges.sh"
