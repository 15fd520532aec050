"""The speed baseline: MediaPipe Hands alone over a clip, in video mode with up to two hands, as a
MediaPipe-to-Blender add-on runs it (OpenCV decoding, the landmarks of every frame, nothing kept).

    .venv/bin/python -m benchmarks.mediapipe_alone VIDEO

``bm_video`` times this whole process, start-up and imports included, beside the job's.
"""
import sys

import cv2
from mediapipe.python.solutions import hands


def main(argv=None) -> int:
    video = (sys.argv[1:] if argv is None else argv)[0]
    capture = cv2.VideoCapture(video)
    found = 0
    with hands.Hands(static_image_mode=False, max_num_hands=2, model_complexity=1) as detector:
        while True:
            ok, bgr = capture.read()
            if not ok:
                break
            result = detector.process(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            found += bool(result.multi_hand_landmarks)
    capture.release()
    print(found)
    return 0


if __name__ == "__main__":
    sys.exit(main())
