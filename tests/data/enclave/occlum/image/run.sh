#!/bin/sh
echo "hello from $GREETING"
