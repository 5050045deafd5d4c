"""forges"""
