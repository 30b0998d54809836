"""Tests of fastnn/kernels/ (each compared with its twin in fastnn/reference/), one file per kernel module."""
