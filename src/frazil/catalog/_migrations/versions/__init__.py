"""One module per schema revision, ``vNNNN_title.py``, each upgrading from the one before."""
