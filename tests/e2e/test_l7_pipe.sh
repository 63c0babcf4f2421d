#!/usr/bin/env bash
# test_l7_pipe - test_l7 on the L7 lane's splice(2) path (--splice pipe), the one the agent
# takes where the kernel's sockmap cannot carry the responses.
L7_SPLICE=pipe exec bash "$(dirname "$0")/test_l7.sh"
