"""The inference side: hand model layer (torch), networks, and (later) the worker process. Never imports bpy."""
